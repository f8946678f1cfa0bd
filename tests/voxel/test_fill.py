"""Solid fill, hole-closing fill, extending to the base, and the volume of filled shapes."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from voxforge.core.mesh import Mesh
from voxforge.core.pointcloud import PointCloud
from voxforge.voxel import VoxelizeConfig, extend_to_base, fill_enclosed, fill_solid, voxelize


def test_box_of_4x2_studs_by_6_plates_is_exactly_48_cells(make_box) -> None:
    for config in (VoxelizeConfig(scale="real"), VoxelizeConfig(width_studs=4)):
        grid = voxelize(make_box((4, 2, 6)), config)
        assert grid.shape == (4, 2, 6)
        assert grid.count == 48
        assert grid.meta["fill"] == "solid" and grid.meta["watertight"] is True


def test_box_surface_and_solid_counts(make_box) -> None:
    box = make_box((6, 5, 9))
    surface = voxelize(box, VoxelizeConfig(scale="real", fill="surface"))
    solid = voxelize(box, VoxelizeConfig(scale="real", fill="solid"))
    assert surface.count == 6 * 5 * 9 - 4 * 3 * 7
    assert solid.count == 6 * 5 * 9
    assert solid.meta["surface_cells"] == surface.count


def _shell(solid: np.ndarray) -> np.ndarray:
    inner = np.zeros_like(solid)
    inner[1:-1, 1:-1, 1:-1] = (
        solid[1:-1, 1:-1, 1:-1]
        & solid[:-2, 1:-1, 1:-1]
        & solid[2:, 1:-1, 1:-1]
        & solid[1:-1, :-2, 1:-1]
        & solid[1:-1, 2:, 1:-1]
        & solid[1:-1, 1:-1, :-2]
        & solid[1:-1, 1:-1, 2:]
    )
    return solid & ~inner


def test_fill_solid_fills_a_closed_shell_and_keeps_a_leaky_one_open() -> None:
    solid = np.zeros((7, 7, 7), bool)
    solid[1:6, 1:6, 1:6] = True
    shell = _shell(solid)
    assert np.array_equal(fill_solid(shell), solid)
    leaky = shell.copy()
    leaky[3, 3, 5] = False  # a hole in the lid
    assert np.array_equal(fill_solid(leaky), leaky)
    # one closing step seals the one-cell hole; the hole cell itself is restored as a plug
    assert np.array_equal(fill_enclosed(leaky, close_iterations=1), solid)


def test_fill_enclosed_never_grows_beyond_the_surface() -> None:
    # A solid block with a one-cell-wide groove cut into its top: closing would fill the groove,
    # but the groove is outside the object and must stay empty.
    solid = np.zeros((9, 9, 8), bool)
    solid[1:8, 1:8, 1:7] = True
    solid[4, 1:8, 4:7] = False
    shell = _shell(solid)
    assert np.array_equal(fill_enclosed(shell, close_iterations=2), solid)
    assert np.array_equal(fill_enclosed(shell, close_iterations=0), fill_solid(shell))


def _cylinder_points(rng: np.random.Generator, n: int, top: str) -> np.ndarray:
    """Points on a cylinder r = 0.04 m, h = 0.1 m: side, bottom, and a top that is
    'full', 'patch' (missing a 1 cm disc), or 'open'."""
    r, h = 0.04, 0.1
    theta = rng.uniform(0, 2 * np.pi, n)
    side = np.c_[r * np.cos(theta), r * np.sin(theta), rng.uniform(0, h, n)]
    rr = r * np.sqrt(rng.uniform(0, 1, n))
    phi = rng.uniform(0, 2 * np.pi, n)
    disc = np.c_[rr * np.cos(phi), rr * np.sin(phi)]
    bottom = np.c_[disc, np.zeros(n)]
    parts = [side, bottom]
    if top == "full":
        parts.append(np.c_[disc, np.full(n, h)])
    elif top == "patch":
        keep = np.hypot(disc[:, 0] - 0.01, disc[:, 1]) > 0.005
        parts.append(np.c_[disc[keep], np.full(keep.sum(), h)])
    return np.vstack(parts)


def test_hole_closing_fills_a_cylinder_scan_with_a_hole_in_its_top(rng) -> None:
    config = VoxelizeConfig(scale="real")
    full = voxelize(PointCloud(xyz=_cylinder_points(rng, 40_000, "full")), config)
    patched = voxelize(PointCloud(xyz=_cylinder_points(rng, 40_000, "patch")), config)
    assert patched.meta["fill"] == "enclosed" and patched.meta["close_iterations"] == 1
    assert patched.shape == full.shape
    assert np.array_equal(patched.occupancy, full.occupancy)
    # the fill stays inside the cylinder: every filled cell has its centre within r + 1 cell
    c = patched.centers()
    assert (np.hypot(c[:, 0], c[:, 1]) < 0.04 + 0.008).all()
    # a whole open top is a cup, not a hole: one closing step leaves it open
    cup = voxelize(PointCloud(xyz=_cylinder_points(rng, 40_000, "open")), config)
    assert cup.count < 0.5 * full.count


def test_extend_bottom_closes_an_open_bottom_scan(rng) -> None:
    pts = _cylinder_points(rng, 40_000, "full")
    no_bottom = pts[pts[:, 2] > 0.004]  # the scan missed the bottom and the lowest 4 mm
    full = voxelize(PointCloud(xyz=pts), VoxelizeConfig(scale="real"))
    open_ = voxelize(PointCloud(xyz=no_bottom), VoxelizeConfig(scale="real"))
    extended = voxelize(PointCloud(xyz=no_bottom), VoxelizeConfig(scale="real", extend_bottom=True))
    assert open_.count < 0.5 * full.count
    assert extended.meta["extend_bottom"] is True
    # the same footprint, and every column of it solid from the base up
    footprint = extended.occupancy.any(axis=2)
    assert np.array_equal(footprint, full.occupancy.any(axis=2))
    assert np.array_equal(extended.occupancy.all(axis=2), footprint)


def test_extend_to_base_fills_columns_down_and_floors_enclosed_columns() -> None:
    occ = np.zeros((5, 5, 6), bool)
    occ[1:4, 1:4, 4] = True  # a ring of walls at z = 4 around (2, 2)
    occ[2, 2, 4] = False
    occ[0, 0, 2] = True  # an overhang-free cell elsewhere
    out = extend_to_base(occ)
    assert out[1:4, 1:4, :5].sum() == 8 * 5 + 1  # walls extended to z=0, the hole gets a floor
    assert out[2, 2].tolist() == [True, False, False, False, False, False]
    assert out[0, 0].tolist() == [True, True, True, False, False, False]
    assert out.sum() == 8 * 5 + 1 + 3


@pytest.mark.parametrize(("rule", "lo", "hi"), [("center", 0.985, 1.015), ("touch", 1.05, 1.20)])
def test_sphere_volume(sphere_mesh, rule: str, lo: float, hi: float) -> None:
    grid = voxelize(sphere_mesh, VoxelizeConfig(scale="real", cell_rule=rule))
    ratio = grid.count * np.prod(grid.pitch) / (4 / 3 * np.pi * 0.1**3)
    assert lo < ratio < hi
    assert grid.meta["cell_rule"] == rule


def test_watertight_mesh_and_its_point_samples_agree_after_fill(sphere_mesh) -> None:
    config = VoxelizeConfig(width_studs=24)
    from_mesh = voxelize(sphere_mesh, config)
    pts, _ = trimesh.sample.sample_surface(sphere_mesh.tm, 200_000, seed=1)
    from_points = voxelize(PointCloud(xyz=pts), config)
    assert from_mesh.meta["fill"] == "solid" and from_points.meta["fill"] == "enclosed"
    assert from_mesh.shape == from_points.shape
    a, b = from_mesh.occupancy, from_points.occupancy
    iou = (a & b).sum() / (a | b).sum()
    assert iou > 0.985
    assert not (b & ~a).any()  # samples lie on the surface: never outside the conservative mesh


def test_open_mesh_is_filled_by_closing(make_box) -> None:
    box = make_box((6, 6, 9)).tm
    open_box = Mesh(
        tm=trimesh.Trimesh(box.vertices, box.faces[~np.isclose(box.face_normals[:, 2], 1.0)])
    )
    assert not open_box.is_watertight
    grid = voxelize(open_box, VoxelizeConfig(scale="real"))
    assert grid.meta["fill"] == "enclosed"
    # the open top is as wide as the box: a cup's mouth, not a hole, even with wide closing
    assert grid.count == 6 * 6 * 9 - 4 * 4 * 8
    wide = voxelize(open_box, VoxelizeConfig(scale="real", close_iterations=3))
    assert np.array_equal(wide.occupancy, grid.occupancy)


def test_a_hole_in_a_mesh_lid_is_plugged(make_box) -> None:
    box = make_box((10, 10, 12)).tm
    lid = trimesh.creation.box(extents=[0.08 * 0.9999, 0.08 * 0.9999, 0.001])
    lid.apply_translation([0.04, 0.04, 0.0384 * 0.9999 - 0.0005])
    holed = lid.difference(
        trimesh.creation.cylinder(
            radius=0.006,
            height=0.01,
            transform=trimesh.transformations.translation_matrix([0.04, 0.04, 0.038]),
        )
    )
    walls = box.faces[~np.isclose(box.face_normals[:, 2], 1.0)]
    mesh = Mesh(tm=trimesh.util.concatenate([trimesh.Trimesh(box.vertices, walls), holed]))
    assert not mesh.is_watertight
    grid = voxelize(mesh, VoxelizeConfig(scale="real"))
    assert grid.count == 10 * 10 * 12
