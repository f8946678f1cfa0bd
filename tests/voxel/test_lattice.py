"""Sizing: width_studs, real scale, the cubic grid, the size cap and degenerate inputs."""

from __future__ import annotations

import re

import numpy as np
import pytest
import trimesh
from pydantic import ValidationError

from voxforge.core.config import build_config
from voxforge.core.errors import ConfigError, GeometryError, SizeLimitError
from voxforge.core.mesh import Mesh
from voxforge.core.pointcloud import PointCloud
from voxforge.core.voxelgrid import LEGO_PITCH
from voxforge.voxel import VoxelizeConfig, fit_scale, voxelize


def _extent_cells(occ: np.ndarray) -> np.ndarray:
    idx = np.argwhere(occ)
    return idx.max(axis=0) - idx.min(axis=0) + 1


@pytest.mark.parametrize("n", [1, 7, 32])
def test_width_studs_gives_exactly_n_cells_for_a_pointy_shape(n: int) -> None:
    # A cone lying along y (its tip is a single point) rotated 30° about z: the worst case for
    # rounding at the extremes.
    tm = trimesh.creation.cone(radius=0.03, height=0.2, sections=24)
    tm.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    tm.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 6, [0, 0, 1]))
    grid = voxelize(Mesh(tm=tm), VoxelizeConfig(width_studs=n))
    ext = _extent_cells(grid.occupancy)
    assert max(ext[0], ext[1]) == n
    assert max(grid.shape[0], grid.shape[1]) == n
    assert grid.meta["width_studs"] == n
    assert grid.meta["scale_mode"] == "fit"
    assert grid.size_report()["studs"] == [int(ext[0]), int(ext[1])]


def test_fit_scale_records_scale_origin_and_puts_the_lowest_point_at_z0() -> None:
    rng = np.random.default_rng(3)
    xyz = rng.uniform([-1.0, 2.0, 5.0], [1.0, 2.5, 5.4], size=(2000, 3))  # 2 m x 0.5 m x 0.4 m
    frame = fit_scale(np.stack([xyz.min(0), xyz.max(0)]), VoxelizeConfig(width_studs=20))
    assert frame.scale == pytest.approx(20 * 0.008 / (xyz[:, 0].max() - xyz[:, 0].min()), rel=1e-5)
    assert frame.origin[2] == pytest.approx(xyz[:, 2].min() * frame.scale)
    assert frame.shape[0] == 20
    assert frame.shape[1] == int(np.ceil(0.5 * frame.scale / 0.008 - 1e-6))
    idx = frame.cell_index(xyz)
    assert idx[:, 2].min() == 0 and idx[:, 0].min() == 0 and idx[:, 0].max() == 19


def test_real_scale_of_a_10cm_object_is_13_studs() -> None:
    tm = trimesh.creation.cylinder(radius=0.05, height=0.09, sections=64)
    grid = voxelize(Mesh(tm=tm), VoxelizeConfig(scale="real"))
    report = grid.size_report()
    assert report["studs"] == [13, 13]  # 100 mm / 8 mm = 12.5 -> 13
    assert report["plates"] == 29  # 90 mm / 3.2 mm = 28.1 -> 29
    assert grid.meta["scale"] == 1.0 and grid.meta["scale_mode"] == "real"
    assert report["size_cm"] == [10.4, 10.4, 9.28]


@pytest.mark.parametrize(("res", "margin"), [(32, 0), (32, 2), (16, 1)])
def test_cubic_grid_fits_the_longest_axis_centred(res: int, margin: int) -> None:
    tm = trimesh.creation.box(extents=[0.3, 0.1, 0.6])  # longest axis is z
    tm.apply_translation([5.0, -2.0, 1.0])
    grid = voxelize(Mesh(tm=tm), VoxelizeConfig(lattice="cubic", resolution=res, margin=margin))
    assert grid.shape == (res, res, res)
    assert np.allclose(grid.pitch, grid.pitch[0])
    idx = np.argwhere(grid.occupancy)
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    assert hi[2] - lo[2] + 1 == res - 2 * margin
    assert (lo[2], res - 1 - hi[2]) == (margin, margin)
    # centred: the empty margins on x and y differ by at most one cell
    assert abs(int(lo[0]) - int(res - 1 - hi[0])) <= 1
    assert abs(int(lo[1]) - int(res - 1 - hi[1])) <= 1
    assert grid.meta["lattice"] == "cubic" and grid.meta["resolution"] == res


def test_size_cap_names_a_width_that_fits() -> None:
    tm = trimesh.creation.box(extents=[0.1, 0.1, 0.3])
    config = VoxelizeConfig(width_studs=400, max_cells=2_000_000)
    with pytest.raises(SizeLimitError) as err:
        voxelize(Mesh(tm=tm), config)
    msg = str(err.value)
    assert "at 400 studs the grid would be 400×400×3000" in msg
    best = int(re.search(r"--width-studs (\d+) or less", msg).group(1))
    voxelize(Mesh(tm=tm), config.model_copy(update={"width_studs": best, "fill": "surface"}))
    with pytest.raises(SizeLimitError):
        fit_scale(tm.bounds, config.model_copy(update={"width_studs": best + 1}))


def test_size_cap_at_real_scale_and_on_the_cubic_grid() -> None:
    tm = trimesh.creation.box(extents=[2.0, 1.0, 1.0])  # 2 m: 250 studs at real scale
    with pytest.raises(SizeLimitError, match=r"at real scale \(250 studs wide\).*--width-studs \d+"):
        fit_scale(tm.bounds, VoxelizeConfig(scale="real"))
    with pytest.raises(SizeLimitError, match="use resolution=98 or less"):
        fit_scale(tm.bounds, VoxelizeConfig(lattice="cubic", resolution=128, max_cells=1_000_000))


def test_tiny_object_at_real_scale_is_refused() -> None:
    tm = trimesh.creation.box(extents=[0.002, 0.002, 0.001])
    with pytest.raises(GeometryError, match=r"2 x 2 x 1 mm, smaller than one 8 x 8 x 3.2 mm cell"):
        voxelize(Mesh(tm=tm), VoxelizeConfig(scale="real"))


def test_vertical_line_cannot_be_fitted_to_a_width() -> None:
    xyz = np.zeros((10, 3))
    xyz[:, 2] = np.linspace(0.0, 1.0, 10)
    with pytest.raises(GeometryError, match="no horizontal extent"):
        voxelize(PointCloud(xyz=xyz))


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        (PointCloud(xyz=np.zeros((0, 3))), "has no points"),
        (PointCloud(xyz=np.array([[0.0, 0.0, 0.0], [np.nan, 1.0, 1.0]])), "1 of 2 points with NaN"),
        (Mesh(tm=trimesh.Trimesh(vertices=np.zeros((3, 3)), faces=np.zeros((0, 3), int))), "no faces"),
        (
            Mesh(
                tm=trimesh.Trimesh(
                    vertices=[[0, 0, 0], [1, 0, 0], [np.nan, 1, 0]], faces=[[0, 1, 2]], process=False
                )
            ),
            "NaN/inf",
        ),
    ],
)
def test_empty_and_nan_inputs_raise_geometry_error(obj: object, match: str) -> None:
    with pytest.raises(GeometryError, match=match):
        voxelize(obj)  # type: ignore[arg-type]


def test_config_validation_errors_are_helpful() -> None:
    with pytest.raises(ValidationError, match="extra"):
        VoxelizeConfig(widht_studs=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="needs the LEGO lattice"):
        VoxelizeConfig(lattice="cubic", scale="real")
    with pytest.raises(ValidationError, match="contradict"):
        VoxelizeConfig(scale="real", width_studs=20)
    with pytest.raises(ValidationError, match="leaves no cells"):
        VoxelizeConfig(lattice="cubic", resolution=8, margin=4)
    with pytest.raises(ConfigError, match="width_studs: Input should be greater than or equal to 1"):
        build_config(VoxelizeConfig, {"width_studs": 0})
    assert VoxelizeConfig(scale="real").width_studs == 32  # default is ignored, not an error


def test_lego_pitch_is_the_grid_pitch(make_box) -> None:
    grid = voxelize(make_box((3, 3, 3)), VoxelizeConfig(scale="real"))
    assert np.array_equal(grid.pitch, LEGO_PITCH)
    assert grid.is_lego
