"""Surface voxelization: points, exact triangle/cell overlap (SAT) and centre parity."""

from __future__ import annotations

import numpy as np
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from voxforge.voxel import VoxelizeConfig, fit_scale, inside_centers, voxelize_points, voxelize_triangles
from voxforge.voxel.lattice import GridFrame

UNIT = GridFrame(shape=(6, 5, 7), pitch=np.array([1.0, 1.0, 1.0]), origin=np.zeros(3), scale=1.0)
LEGO_UNIT = GridFrame(
    shape=(6, 5, 7), pitch=np.array([0.008, 0.008, 0.0032]), origin=np.zeros(3), scale=1.0
)


def test_points_mark_exactly_their_cells() -> None:
    xyz = np.array(
        [[0.001, 0.001, 0.001], [0.009, 0.001, 0.0033], [0.009, 0.0015, 0.0063], [0.047, 0.039, 0.0223]]
    )
    occ = voxelize_points(xyz, LEGO_UNIT)
    assert set(map(tuple, np.argwhere(occ).tolist())) == {(0, 0, 0), (1, 0, 1), (5, 4, 6)}
    assert occ.sum() == 3  # (0.009, 0.0015, 0.0063) falls in (1, 0, 1) like its neighbour


def _triangle_meets_box(tri: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> bool:
    """Independent check: is there a convex combination of the corners inside [lo, hi]? (an LP)."""
    a_ub = np.vstack([tri.T, -tri.T])
    b_ub = np.concatenate([hi, -lo])
    res = linprog(
        np.zeros(3),
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=np.ones((1, 3)),
        b_eq=[1.0],
        bounds=[(0, None)] * 3,
        method="highs",
    )
    return res.status == 0


coord = st.floats(min_value=0.05, max_value=4.95, allow_nan=False, allow_infinity=False)
triangle = st.lists(st.tuples(coord, coord, coord), min_size=3, max_size=3)
small = st.floats(min_value=0.05, max_value=2.95, allow_nan=False, allow_infinity=False)
small_triangle = st.lists(st.tuples(small, small, small), min_size=3, max_size=3)


@settings(max_examples=100, deadline=None)
@given(triangle, st.integers(min_value=0, max_value=2**32 - 1))
def test_every_sampled_point_of_a_triangle_lies_in_a_marked_cell(corners, seed) -> None:
    tri = np.array(corners, dtype=np.float64)[None]
    occ = voxelize_triangles(tri, UNIT)
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(3), size=500)
    w = np.vstack([w, np.eye(3), [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5]]])
    idx = UNIT.cell_index(w @ tri[0])
    assert occ[idx[:, 0], idx[:, 1], idx[:, 2]].all()


@settings(max_examples=25, deadline=None)
@given(small_triangle)
def test_sat_marks_exactly_the_cells_the_triangle_meets(corners) -> None:
    tri = np.array(corners, dtype=np.float64)
    occ = voxelize_triangles(tri[None], UNIT)
    lo_c = np.maximum(np.floor(tri.min(axis=0)).astype(int) - 1, 0)
    hi_c = np.minimum(np.floor(tri.max(axis=0)).astype(int) + 1, np.array(UNIT.shape) - 1)
    for i in range(lo_c[0], hi_c[0] + 1):
        for j in range(lo_c[1], hi_c[1] + 1):
            for k in range(lo_c[2], hi_c[2] + 1):
                c = np.array([i, j, k], dtype=np.float64)
                if occ[i, j, k]:  # marked cells meet the triangle (up to a 1e-7 slack)
                    assert _triangle_meets_box(tri, c - 1e-7, c + 1 + 1e-7)
                else:  # unmarked cells do not, even shrunk by the slack
                    assert not _triangle_meets_box(tri, c + 1e-7, c + 1 - 1e-7)
    assert not occ[4:].any() and not occ[:, 4:].any() and not occ[:, :, 4:].any()


def test_sat_on_the_lego_lattice_is_anisotropic() -> None:
    # A flat triangle at z = 5 mm lies in plate 1 (3.2..6.4 mm) only.
    tri = np.array([[[0.001, 0.001, 0.005], [0.030, 0.001, 0.005], [0.001, 0.030, 0.005]]])
    occ = voxelize_triangles(tri, LEGO_UNIT)
    assert occ[:, :, 1].sum() == 10  # the staircase under the hypotenuse x + y <= 29 mm
    assert occ.sum() == occ[:, :, 1].sum()


def test_inside_centers_of_a_sphere_match_the_analytic_test() -> None:
    tm = trimesh.creation.icosphere(subdivisions=5, radius=1.0)
    frame = fit_scale(tm.bounds, VoxelizeConfig(lattice="cubic", resolution=24, margin=2))
    inside = inside_centers(tm.triangles, frame)
    centres = frame.origin + (np.argwhere(np.ones(frame.shape)) + 0.5) * frame.pitch
    r = np.linalg.norm(centres, axis=1).reshape(frame.shape)
    sure = np.abs(r - 1.0) > 0.01  # the icosphere is within 0.2 % of the sphere
    assert np.array_equal(inside[sure], (r < 1.0)[sure])


def test_inside_centers_counts_a_centre_on_a_shared_edge_once() -> None:
    # A unit box whose diagonal (shared by two triangles of the top and bottom faces) passes
    # exactly through the column centre (0.5, 0.5): parity must still see one top and one bottom.
    tm = trimesh.creation.box(extents=[1.0, 1.0, 0.8])
    tm.apply_translation([0.5, 0.5, 1.5])
    frame = GridFrame(shape=(1, 1, 4), pitch=np.ones(3), origin=np.zeros(3), scale=1.0)
    assert inside_centers(tm.triangles, frame)[0, 0].tolist() == [False, True, False, False]


def test_triangles_outside_the_grid_mark_nothing_but_float_noise_is_clamped() -> None:
    far = np.array([[[-0.5, 0.5, 0.5], [-0.2, 0.5, 0.5], [-0.3, 0.6, 1.5]]])
    assert not voxelize_triangles(far, UNIT).any()
    noise = np.array([[[6.0 + 5e-7, 0.5, 0.5], [6.0 + 5e-7, 0.7, 0.5], [6.0 + 5e-7, 0.6, 0.9]]])
    assert np.argwhere(voxelize_triangles(noise, UNIT)).tolist() == [[5, 0, 0]]
