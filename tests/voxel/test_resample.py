import numpy as np
import pytest

from voxforge.core import VoxelGrid
from voxforge.core.errors import GeometryError
from voxforge.voxel import VoxelizeConfig
from voxforge.voxel.resample import resample_grid


def cubic_box(nx, ny, nz, pitch=0.01):
    occ = np.zeros((nx + 2, ny + 2, nz + 2), bool)
    occ[1:-1, 1:-1, 1:-1] = True
    return VoxelGrid(occ, pitch=pitch, origin=[-pitch, -pitch, -pitch])


def test_cubic_box_keeps_its_proportions_on_the_lego_lattice():
    # 8 x 4 x 4 cubic cells -> 16 studs wide: 8 studs deep and 16 * 8 mm / 3.2 mm / 2 = 20 plates
    out = resample_grid(cubic_box(8, 4, 4), VoxelizeConfig(width_studs=16))
    assert out.is_lego
    assert out.shape == (16, 8, 20)
    assert out.count == 16 * 8 * 20


def test_real_scale_uses_the_source_pitch():
    out = resample_grid(cubic_box(4, 4, 4, pitch=0.008), VoxelizeConfig(scale="real"))
    assert out.shape == (4, 4, 10)


def test_thin_wall_survives_shrinking_and_colours_follow():
    occ = np.zeros((40, 40, 40), bool)
    occ[:, :, 0:2] = True  # a floor two cells thick
    occ[0:1, :, :] = True  # a wall one cell thick
    colors = np.zeros((40, 40, 40, 3), np.float32)
    colors[occ] = [1, 0, 0]
    colors[0:1, :, :] = [0, 0, 1]
    g = VoxelGrid(occ, pitch=0.001, colors=colors)
    out = resample_grid(g, VoxelizeConfig(width_studs=8))
    assert out.shape[:2] == (8, 8)
    assert out.occupancy[0].all()  # the wall is still there at 1/5 the resolution
    np.testing.assert_allclose(out.colors[0, 4, 10], [0, 0, 1])
    np.testing.assert_allclose(out.colors[5, 4, 0], [1, 0, 0])


def test_empty_grid_refused():
    with pytest.raises(GeometryError, match="no filled cells"):
        resample_grid(VoxelGrid(np.zeros((2, 2, 2), bool)))
