"""RANSAC table plane: detection, orientation, the support-plane guard, alignment and removal."""

from __future__ import annotations

import numpy as np
import pytest

from voxforge.core import GeometryError, PointCloud
from voxforge.scan.plane import (
    Plane,
    align_to_plane,
    axis_vector,
    find_plane,
    is_support_plane,
    orient_plane,
    remove_plane_and_below,
    rotation_between,
)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def grid_plane(side: float, step: float) -> np.ndarray:
    """(m, 3) points of a square grid in z = 0 centred on the origin."""
    g = np.arange(-side / 2, side / 2 + 1e-9, step)
    x, y = np.meshgrid(g, g, indexing="ij")
    return np.stack([x.ravel(), y.ravel(), np.zeros(x.size)], axis=1)


def box_surface(lo, hi, step: float, faces=("x0", "x1", "y0", "y1", "z1")) -> np.ndarray:
    """Points on chosen faces of an axis-aligned box (a box standing on z = lo[2] has no z0)."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    pts = []
    for f in faces:
        axis, side = "xyz".index(f[0]), int(f[1])
        others = [a for a in range(3) if a != axis]
        ga = np.arange(lo[others[0]], hi[others[0]] + 1e-9, step)
        gb = np.arange(lo[others[1]], hi[others[1]] + 1e-9, step)
        a, b = np.meshgrid(ga, gb, indexing="ij")
        p = np.empty((a.size, 3))
        p[:, others[0]], p[:, others[1]] = a.ravel(), b.ravel()
        p[:, axis] = hi[axis] if side else lo[axis]
        pts.append(p)
    return np.concatenate(pts)


@pytest.fixture
def table_scene(rng):
    """A 1 m table (z = 0) with a 10 x 10 x 20 cm box on it, rotated and shifted at random."""
    table = grid_plane(1.0, 0.01)
    box = box_surface((-0.05, -0.05, 0.0), (0.05, 0.05, 0.2), 0.01)
    box = box[box[:, 2] > 0.002]
    rot = random_rotation(rng)
    shift = np.array([0.3, -0.2, 1.1])
    xyz = np.concatenate([table, box]) @ rot.T + shift
    n_table = len(table)
    return xyz, rot, shift, n_table


def test_find_plane_recovers_the_tilted_table_exactly(table_scene):
    xyz, rot, shift, n_table = table_scene
    plane = find_plane(xyz, threshold=0.002, seed=0)
    assert plane is not None
    truth = rot @ np.array([0.0, 0.0, 1.0])
    # Oriented toward the box, i.e. the table's own +z.
    assert plane.normal @ truth == pytest.approx(1.0, abs=1e-9)
    assert plane.offset == pytest.approx(-truth @ shift, abs=1e-9)
    assert plane.inliers[:n_table].all()
    assert not plane.inliers[n_table:].any()


def test_find_plane_is_deterministic_for_a_seed(rng):
    xyz = grid_plane(0.5, 0.01) + rng.normal(0, 0.002, size=(2601, 3))
    a = find_plane(xyz, threshold=0.003, seed=7)
    b = find_plane(xyz, threshold=0.003, seed=7)
    assert np.array_equal(a.normal, b.normal) and a.offset == b.offset
    assert np.array_equal(a.inliers, b.inliers)


def test_find_plane_with_axis_ignores_a_larger_wall():
    floor = grid_plane(0.6, 0.01)  # 3,721 points in z = 0
    wall = grid_plane(1.0, 0.01)[:, [0, 2, 1]] + [0.0, 0.5, 0.5]  # 10,201 points in y = 0.5
    xyz = np.concatenate([floor, wall])
    free = find_plane(xyz, threshold=0.002, seed=0)
    assert abs(free.normal[1]) == pytest.approx(1.0, abs=1e-9)
    assert int(free.inliers.sum()) == len(wall)
    up = find_plane(xyz, threshold=0.002, seed=0, axis="z")
    assert up.normal == pytest.approx([0.0, 0.0, 1.0], abs=1e-9)
    # The floor row at y = 0.3 is 20 cm from the wall: only the floor counts.
    assert int(up.inliers.sum()) == len(floor) + 101  # plus the wall's bottom row at z = 0


def test_find_plane_none_without_a_plane_near_the_axis():
    wall = grid_plane(1.0, 0.02)[:, [0, 2, 1]]
    assert find_plane(wall, threshold=0.002, axis="z") is None
    assert find_plane(np.zeros((2, 3))) is None


def test_orient_plane_points_to_the_object_side():
    table = grid_plane(1.0, 0.02)
    box = box_surface((-0.05, -0.05, 0.0), (0.05, 0.05, 0.1), 0.01)
    xyz = np.concatenate([table, box[box[:, 2] > 0.002]])
    inliers = np.zeros(len(xyz), bool)
    inliers[: len(table)] = True
    down = Plane(normal=np.array([0.0, 0.0, -1.0]), offset=0.0, inliers=inliers)
    assert orient_plane(xyz, down).normal.tolist() == [0.0, 0.0, 1.0]
    # Hanging under the plane instead: the normal turns down.
    xyz[len(table) :, 2] *= -1
    up = Plane(normal=np.array([0.0, 0.0, 1.0]), offset=0.0, inliers=inliers)
    assert orient_plane(xyz, up).normal.tolist() == [0.0, 0.0, -1.0]


def test_support_guard_accepts_a_table_and_refuses_a_box_face():
    table = grid_plane(0.6, 0.005)
    box = box_surface((-0.05, -0.05, 0.0), (0.05, 0.05, 0.2), 0.005)
    scene = np.concatenate([table, box[box[:, 2] > 0.002]])
    plane = find_plane(scene, threshold=0.002)
    assert is_support_plane(scene, plane)
    # A carton seen from one corner: its largest visible face is no wider than the rest of it.
    carton = box_surface((0, 0, 0), (0.15, 0.1, 0.25), 0.005, faces=("y0", "x1", "z1"))
    face = find_plane(carton, threshold=0.002)
    assert abs(face.normal[1]) == pytest.approx(1.0)  # the 15 x 25 cm face is the largest
    assert not is_support_plane(carton, face)
    # Too small a share of the points is never a table.
    assert not is_support_plane(scene, plane, min_share=0.99)


def test_align_to_plane_puts_the_table_on_z0(table_scene):
    xyz, _, _, n_table = table_scene
    cloud = PointCloud(xyz=xyz)
    plane = find_plane(xyz, threshold=0.002)
    moved, t = align_to_plane(cloud, plane)
    assert np.allclose(moved.xyz[:n_table, 2], 0.0, atol=1e-9)
    assert moved.xyz[n_table:, 2].min() > 0.002
    assert moved.xyz[n_table:, 2].max() == pytest.approx(0.2, abs=1e-9)
    assert np.linalg.det(t[:3, :3]) == pytest.approx(1.0)
    assert np.allclose(t[:3, :3] @ t[:3, :3].T, np.eye(3))
    assert np.allclose(moved.xyz, xyz @ t[:3, :3].T + t[:3, 3])


def test_remove_plane_and_below_keeps_only_what_is_above_the_margin():
    xyz = np.array([[0, 0, -0.1], [0, 0, 0.0], [0, 0, 0.004], [0, 0, 0.0041], [1, 1, 0.3]])
    plane = Plane(normal=np.array([0.0, 0.0, 1.0]), offset=0.0, inliers=np.zeros(5, bool))
    kept = remove_plane_and_below(PointCloud(xyz=xyz), plane, margin=0.004)
    assert kept.xyz[:, 2].tolist() == [0.0041, 0.3]


def test_rotation_between_handles_every_case():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a, b = rng.normal(size=3), rng.normal(size=3)
        a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
        r = rotation_between(a, b)
        assert np.allclose(r @ a, b) and np.linalg.det(r) == pytest.approx(1.0)
    z = np.array([0.0, 0.0, 1.0])
    assert np.allclose(rotation_between(z, -z) @ z, -z)
    assert np.allclose(rotation_between(z, z), np.eye(3))


def test_axis_vector_names_and_errors():
    assert axis_vector("-y").tolist() == [0.0, -1.0, 0.0]
    assert axis_vector([0, 0, 2]).tolist() == [0.0, 0.0, 1.0]
    with pytest.raises(GeometryError, match="unknown axis 'w'"):
        axis_vector("w")
    with pytest.raises(GeometryError, match="no direction"):
        axis_vector([0, 0, 0])
