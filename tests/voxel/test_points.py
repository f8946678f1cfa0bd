import numpy as np
from scipy import ndimage

from voxforge.core import PointCloud
from voxforge.voxel import VoxelizeConfig, voxelize
from voxforge.voxel.points import point_spacing, splat_half_width, splat_points


def test_point_spacing_of_a_regular_grid():
    g = np.stack(np.meshgrid(np.arange(100), np.arange(100), [0.0], indexing="ij"), -1).reshape(-1, 3)
    assert abs(point_spacing(g * 0.01) - 0.01) < 1e-9
    # a random subset is rescaled to the full density; it errs on the wide side (safe: wider splats)
    assert 0.01 <= point_spacing(g * 0.01, max_sample=2500) <= 0.016


def test_splat_half_width_per_axis():
    pitch = np.array([0.008, 0.008, 0.0032])
    np.testing.assert_allclose(splat_half_width(0.001, 1.0, pitch), [0, 0, 0])
    np.testing.assert_allclose(splat_half_width(0.008, 1.0, pitch), [0.5, 0.5, 1.25])
    np.testing.assert_allclose(splat_half_width(1.0, 1.0, pitch), [6, 6, 6])


def test_splat_marks_exactly_the_touched_cells():
    out = splat_points(
        np.array([[2.5, 2.5, 2.5], [0.1, 0.1, 0.1]]), np.array([0.6, 0.0, 0.3]), (5, 5, 5)
    )
    assert sorted(map(tuple, np.argwhere(out).tolist())) == [
        (0, 0, 0),
        (1, 2, 2),
        (2, 2, 2),
        (3, 2, 2),
    ]


def _ring_closed(layer):
    return ndimage.label(~np.pad(layer, 1))[0].max() >= 2  # inside separate from outside


def test_sparse_cylinder_scan_becomes_a_closed_wall(rng):
    # a 10 cm cylinder wall sampled every ~5 mm with jitter, as a scan fused on a 5 mm grid,
    # blown up to 32 studs (~1.6 cells between points across, 4 plates up)
    theta, z = np.meshgrid(np.arange(0, 2 * np.pi, 0.1), np.arange(0, 0.1, 0.005))
    theta = theta.ravel() + rng.uniform(-0.02, 0.02, theta.size)
    z = z.ravel() + rng.uniform(-0.001, 0.001, z.size)
    xyz = np.stack([0.05 * np.cos(theta), 0.05 * np.sin(theta), z], 1)
    sieve = voxelize(PointCloud(xyz), VoxelizeConfig(width_studs=32, splat_points=False))
    grid = voxelize(PointCloud(xyz), VoxelizeConfig(width_studs=32))
    assert grid.shape == sieve.shape
    layers = range(2, grid.shape[2] - 2)
    assert all(_ring_closed(grid.occupancy[:, :, k]) for k in layers)
    assert not any(_ring_closed(sieve.occupancy[:, :, k]) for k in layers)
    # the wall thickens by at most about one cell on each side
    inner = ndimage.label(~np.pad(grid.occupancy[:, :, 20], 1))[0]
    assert (inner == inner[17, 17]).sum() >= (32 - 2 * 3) ** 2 * 0.7
