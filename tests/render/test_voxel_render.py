"""Voxel previews: exposed faces, what an iso view shows, colours, the LEGO lattice pitch."""

from __future__ import annotations

import numpy as np
import pytest

from voxforge.core.errors import GeometryError
from voxforge.core.voxelgrid import LEGO_PITCH, VoxelGrid
from voxforge.render.raster import Lighting, RenderOptions, rasterize
from voxforge.render.voxels import (
    DIRECTIONS,
    exposed_faces,
    render_voxels,
    save_preview,
    voxel_camera,
    voxel_mesh,
)

FLAT = Lighting(key=0.0, fill=0.0, ambient=1.0)
"""Unshaded: rendered colours equal the cell colours."""


@pytest.mark.parametrize(("n", "faces"), [(1, 6), (2, 24), (3, 54)])
def test_exposed_face_count_of_solid_blocks(n, faces):
    cells, dirs = exposed_faces(np.ones((n, n, n), dtype=bool))
    assert len(cells) == faces == len(dirs)
    assert np.bincount(dirs, minlength=6).tolist() == [n * n] * 6


def test_exposed_faces_skip_shared_faces_and_own_cells():
    occ = np.zeros((4, 3, 2), dtype=bool)
    occ[1, 1, 0] = occ[2, 1, 0] = True  # two cells side by side along x
    cells, dirs = exposed_faces(occ)
    assert len(cells) == 10
    assert sorted(map(tuple, cells[dirs == 0])) == [(2, 1, 0)]  # +x face only on the right cell
    assert sorted(map(tuple, cells[dirs == 1])) == [(1, 1, 0)]
    assert occ[tuple(cells.T)].all()


def test_voxel_mesh_uses_anisotropic_pitch_and_outward_winding():
    grid = VoxelGrid(np.ones((1, 1, 1), bool), pitch=LEGO_PITCH, origin=[1.0, 2.0, 3.0])
    v, f, rgb, group = voxel_mesh(grid)
    np.testing.assert_allclose(v.min(axis=0), [1.0, 2.0, 3.0], atol=1e-6)
    np.testing.assert_allclose(v.max(axis=0) - v.min(axis=0), LEGO_PITCH, atol=1e-6)
    assert f.shape == (12, 3) and rgb.shape == (12, 3) and len(np.unique(group)) == 6
    a, b, c = v[f[:, 0]].astype(float), v[f[:, 1]].astype(float), v[f[:, 2]].astype(float)
    normal = np.cross(b - a, c - a)
    outward = (a + b + c) / 3 - v.mean(axis=0)
    assert (np.einsum("ij,ij->i", normal, outward) > 0).all()


def test_single_cell_shows_exactly_three_faces_from_iso_view():
    grid = VoxelGrid(np.ones((1, 1, 1), bool), pitch=0.01)
    v, f, _, group = voxel_mesh(grid)
    cam = voxel_camera(grid, 100)
    r = rasterize(v, f, cam)
    seen = np.unique(group[r.triangle[r.triangle >= 0]])
    assert len(seen) == 3
    _, dirs = exposed_faces(grid.occupancy)
    assert sorted(DIRECTIONS[dirs[seen]].tolist()) == [[0, 0, 1], [0, 1, 0], [1, 0, 0]]


def test_cell_colours_appear_in_image():
    occ = np.ones((2, 1, 1), bool)
    colors = np.zeros((2, 1, 1, 3), np.float32)
    colors[0, 0, 0] = (1.0, 0.0, 0.0)
    colors[1, 0, 0] = (0.0, 0.0, 1.0)
    grid = VoxelGrid(occ, pitch=0.01, colors=colors)
    img = render_voxels(grid, 120, options=RenderOptions(lighting=FLAT, ssaa=1))
    flat = img.reshape(-1, 3)
    red = (flat == [255, 0, 0]).all(axis=1).sum()
    blue = (flat == [0, 0, 255]).all(axis=1).sum()
    assert red > 500 and blue > 500
    # cells keep their place: the x = 0 cell (red) is right of the x = 1 cell in the default view
    _, cols = np.nonzero((img == [255, 0, 0]).all(axis=2))
    _, bcols = np.nonzero((img == [0, 0, 255]).all(axis=2))
    assert cols.mean() > bcols.mean()  # +x points to the lower left in the default view


def test_grey_without_colours_and_lego_cells_look_flat():
    grid = VoxelGrid(np.ones((2, 2, 3), bool))  # LEGO lattice: 16 x 16 x 9.6 mm
    img = render_voxels(grid, 100, options=RenderOptions(lighting=FLAT, ssaa=1, edges=False))
    flat = img.reshape(-1, 3)
    covered = flat[(flat != 255).any(axis=1)]
    assert np.unique(covered, axis=0).tolist() == [[184, 184, 189]]  # DEFAULT_VOXEL_RGB


def test_render_voxels_outputs_and_errors(tmp_path):
    grid = VoxelGrid(np.ones((2, 2, 2), bool), pitch=0.01)
    rgba = render_voxels(grid, (90, 60), background=None)
    assert rgba.shape == (60, 90, 4) and rgba[0, 0, 3] == 0
    path = save_preview(render_voxels(grid, 50), tmp_path / "v.png")
    assert path.stat().st_size > 100
    with pytest.raises(GeometryError, match="empty"):
        render_voxels(VoxelGrid(np.zeros((2, 2, 2), bool)))


def test_small_cells_drop_per_cell_outlines():
    grid = VoxelGrid(np.ones((40, 40, 40), bool), pitch=0.01)
    coarse = render_voxels(grid, 64, cell_edges=False, options=RenderOptions(ssaa=1))
    fine = render_voxels(grid, 64, cell_edges=True, options=RenderOptions(ssaa=1))
    dark = lambda im: int((im.max(axis=2) < 90).sum())  # noqa: E731
    assert dark(fine) > 3 * dark(coarse)


def test_real_modelnet_chair_preview(shared_data):
    data = np.load(shared_data / "modelnet10_vox30_train.npz")
    classes = data["classes"].tolist()
    index = int(np.flatnonzero(data["labels"] == classes.index("chair"))[0])
    grid = VoxelGrid(data["voxels"][index].astype(bool), pitch=0.01)
    img = render_voxels(grid, 160)
    covered = (img < 250).any(axis=2)
    assert 0.1 < covered.mean() < 0.8
    rows, cols = np.nonzero(covered)
    assert rows.min() <= 160 * 0.04 + 2 or cols.min() <= 160 * 0.04 + 2  # framed to the margin


def test_large_grid_framing_is_tight():
    # more than 4096 surface cells takes the two-step framing path; it must stay exact
    n = 48
    x, y, z = np.meshgrid(*(np.arange(n),) * 3, indexing="ij")
    occ = (x - 23.5) ** 2 + (y - 23.5) ** 2 + (z - 23.5) ** 2 < 23**2
    grid = VoxelGrid(occ, pitch=LEGO_PITCH)
    cells, _ = exposed_faces(occ)
    assert len(np.unique(cells, axis=0)) > 4096
    cam = voxel_camera(grid, 400, margin=0.05)
    filled = np.argwhere(occ)
    corners = filled[:, None, :] + np.array(np.meshgrid([0, 1], [0, 1], [0, 1])).reshape(3, -1).T
    p = cam.project(corners.reshape(-1, 3) * grid.pitch)
    lo, hi = p[:, :2].min(axis=0), p[:, :2].max(axis=0)
    tight = np.isclose(lo, 20.0, atol=1e-6) & np.isclose(hi, 380.0, atol=1e-6)
    assert tight.any()  # the limiting axis touches both margins
    assert (lo >= 20.0 - 1e-6).all() and (hi <= 380.0 + 1e-6).all()
