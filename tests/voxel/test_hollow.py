"""Hollowing to a shell of K studs / 3K plates."""

from __future__ import annotations

import numpy as np
import pytest

from voxforge.core.errors import ConfigError
from voxforge.voxel import VoxelizeConfig, hollow, shell_distance, voxelize


def test_hollow_box_exact_interior(make_box) -> None:
    grid = voxelize(make_box((6, 5, 9)), VoxelizeConfig(scale="real", hollow=1))
    # interior: x 1..4, y 1..3 (one stud of wall) and z 3..5 (three plates of floor and roof)
    expected = np.zeros((6, 5, 9), bool)
    expected[1:5, 1:4, 3:6] = True
    assert np.array_equal(grid.interior, expected)
    assert grid.count == 6 * 5 * 9 - 36
    assert grid.meta["hollow"] == 1 and grid.meta["interior_cells"] == 36


@pytest.mark.parametrize("k", [1, 2])
def test_hollow_sphere_keeps_the_silhouette_and_no_interior_near_the_outside(sphere_mesh, k) -> None:
    solid = voxelize(sphere_mesh, VoxelizeConfig(width_studs=20))
    shell = hollow(solid, k)
    assert shell.interior.sum() > 0
    assert not (shell.interior & shell.occupancy).any()
    assert np.array_equal(shell.occupancy | shell.interior, solid.occupancy)
    dist = shell_distance(solid.occupancy, lego=True)
    assert (dist[shell.interior] > k).all() and (dist[shell.occupancy] <= k).all()
    for axis in range(3):
        assert np.array_equal(shell.occupancy.any(axis=axis), solid.occupancy.any(axis=axis))
    assert shell.colors is None or shell.colors[shell.interior].max() == 0.0


def test_hollow_cubic_grid_is_isotropic() -> None:
    from voxforge.core.voxelgrid import VoxelGrid

    occ = np.ones((7, 7, 7), bool)
    grid = hollow(VoxelGrid(occupancy=occ, pitch=0.01, colors=np.ones((7, 7, 7, 3))), 2)
    assert grid.interior.sum() == 3**3
    assert grid.colors[3, 3, 3].tolist() == [0, 0, 0]
    with pytest.raises(ConfigError, match="at least 1"):
        hollow(grid, 0)
