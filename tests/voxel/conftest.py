"""Fixtures of the voxel tests: tiny generated meshes and clouds with fixed seeds."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import trimesh

from voxforge.core.mesh import Mesh
from voxforge.core.voxelgrid import LEGO_PITCH


def _box(
    cells: tuple[float, float, float],
    shrink: float = 1e-4,
    at: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> Mesh:
    extents = np.asarray(cells, dtype=np.float64) * LEGO_PITCH * (1.0 - shrink)
    tm = trimesh.creation.box(extents=extents)
    tm.apply_translation(-tm.bounds[0] + np.asarray(at) * LEGO_PITCH)
    return Mesh(tm=tm)


@pytest.fixture
def make_box() -> Callable[..., Mesh]:
    """``make_box((sx, sy, sz), shrink=1e-4, at=(0, 0, 0))``: a box of exactly sx x sy studs and sz
    plates, shrunk by ``shrink`` (relative) so no face lies on a cell boundary, min corner at
    ``at`` cells."""
    return _box


@pytest.fixture
def sphere_mesh() -> Mesh:
    """A watertight icosphere of radius 0.1 m centred at the origin."""
    return Mesh(tm=trimesh.creation.icosphere(subdivisions=4, radius=0.1))
