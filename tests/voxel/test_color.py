"""Colours: linear-light averaging, vertex/face/texture colours of meshes, interior colours."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from voxforge.core.mesh import Mesh
from voxforge.core.pointcloud import PointCloud
from voxforge.core.voxelgrid import LEGO_PITCH
from voxforge.voxel import (
    VoxelizeConfig,
    cell_colors,
    linear_to_srgb,
    mean_srgb,
    srgb_to_linear,
    voxelize,
)


def test_red_and_green_average_in_linear_light() -> None:
    assert np.allclose(mean_srgb([[1, 0, 0], [0, 1, 0]]), [0.7354, 0.7354, 0.0], atol=1e-3)
    # the same through the grid: two points in one cell
    cloud = PointCloud(
        xyz=[[0.001, 0.001, 0.001], [0.002, 0.002, 0.002], [0.02, 0.02, 0.006]],
        rgb=[[1, 0, 0], [0, 1, 0], [0, 0, 1]],
    )
    grid = voxelize(cloud, VoxelizeConfig(scale="real", fill="surface"))
    assert np.allclose(grid.colors[0, 0, 0], [0.7354, 0.7354, 0.0], atol=1e-3)
    assert np.array_equal(grid.colors[2, 2, 1], [0, 0, 1])


def test_srgb_round_trip_and_reference_values() -> None:
    x = np.linspace(0, 1, 101, dtype=np.float32)
    assert np.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-5)
    assert srgb_to_linear(np.float32(0.5)) == pytest.approx(0.21404, abs=1e-5)


def test_unsampled_and_interior_cells_take_the_nearest_sampled_colour() -> None:
    occ = np.zeros((5, 1, 1), bool)
    occ[:4] = True
    idx = np.array([[0, 0, 0], [3, 0, 0]])
    colors = cell_colors(idx, np.array([[1, 0, 0], [0, 0, 1]]), occ, LEGO_PITCH)
    assert colors[:, 0, 0].tolist() == [[1, 0, 0], [1, 0, 0], [0, 0, 1], [0, 0, 1], [0, 0, 0]]


def _two_colour_boxes(kind: str) -> Mesh:
    """Box A (x in studs 0..2) red and box B (2..4) green, 4 x 2 studs x 3 plates together."""
    parts = []
    for x0, rgba in ((0.0, [255, 0, 0, 255]), (2.0, [0, 255, 0, 255])):
        b = trimesh.creation.box(extents=np.array([2, 2, 3]) * LEGO_PITCH * 0.998)
        b.apply_translation(-b.bounds[0] + (np.array([x0, 0, 0]) + 0.001) * LEGO_PITCH)
        if kind == "vertex":
            b.visual.vertex_colors = np.tile(rgba, (len(b.vertices), 1))
        else:
            b.visual.face_colors = np.tile(rgba, (len(b.faces), 1))
        parts.append(b)
    return Mesh(tm=trimesh.util.concatenate(parts))


@pytest.mark.parametrize("kind", ["vertex", "face"])
def test_two_colour_mesh_gives_two_groups_in_the_right_cells(kind: str) -> None:
    grid = voxelize(_two_colour_boxes(kind), VoxelizeConfig(scale="real"))
    assert grid.shape == (4, 2, 3) and grid.count == 24
    assert np.array_equal(grid.colors[:2].reshape(-1, 3), np.tile([1.0, 0, 0], (12, 1)))
    assert np.array_equal(grid.colors[2:].reshape(-1, 3), np.tile([0, 1.0, 0], (12, 1)))
    assert grid.meta["samples"] > 0


def test_interior_of_a_big_box_is_coloured_from_its_nearest_face(make_box) -> None:
    mesh = make_box((8, 8, 24))
    tm = mesh.tm
    up = tm.face_normals[:, 2] > 0.5
    tm.visual.face_colors = np.where(up[:, None], [0, 0, 255, 255], [255, 255, 0, 255])
    grid = voxelize(mesh, VoxelizeConfig(scale="real"))
    assert grid.count == 8 * 8 * 24
    assert np.array_equal(grid.colors[4, 4, 23], [0, 0, 1])  # top layer: blue
    assert np.array_equal(grid.colors[4, 4, 5], [1, 1, 0])  # deep inside, nearest the bottom
    assert np.array_equal(grid.colors[3, 3, 21], [0, 0, 1])  # 2 plates (6.4 mm) under the top


def test_texture_through_uvs_with_wrap_flip_and_factor() -> None:
    from PIL import Image

    # 2 x 2 texture: top row red, green; bottom row blue, white.
    img = Image.fromarray(
        np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 255]]], dtype=np.uint8)
    )
    tm = trimesh.creation.box(extents=[0.02, 0.02, 0.02])
    uv = np.tile([[1.25, -0.25]], (len(tm.vertices), 1))  # wraps to (0.25, 0.75): top-left, red
    mat = trimesh.visual.material.PBRMaterial(baseColorTexture=img, baseColorFactor=[0.5, 1.0, 1.0, 1.0])
    tm.visual = trimesh.visual.TextureVisuals(uv=uv, material=mat)
    grid = voxelize(Mesh(tm=tm), VoxelizeConfig(scale="real", fill="surface"))
    # red times a linear factor 0.5 is 0.7354 in sRGB
    assert np.allclose(grid.colors[grid.occupancy], [0.7354, 0.0, 0.0], atol=2e-3)


def test_fuze_texture_gives_varied_colours(shared_data) -> None:
    tm = trimesh.load(shared_data / "meshes" / "fuze.obj", force="mesh")
    assert tm.visual.kind == "texture"
    grid = voxelize(Mesh(tm=tm), VoxelizeConfig(width_studs=16))
    cols = grid.colors[grid.occupancy]
    assert len(np.unique(np.round(cols, 2), axis=0)) > 50
    assert cols.std(axis=0).min() > 0.05
    assert (cols > 0).any(axis=1).all()  # every filled cell got a colour
    assert grid.colors[~grid.occupancy].max() == 0.0
