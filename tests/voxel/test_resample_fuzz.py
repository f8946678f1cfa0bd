"""Resampling any grid (any shape, thin axes, padding, origin, pitch) never crashes and keeps its rules.

The reference below computes the two fill rules of :func:`resample_grid` cell by cell in plain
Python: a target cell is filled when its centre lies in a filled source cell, or when a filled
source cell's centre lies in it.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voxforge.core.errors import VoxforgeError
from voxforge.core.voxelgrid import LEGO_PITCH, VoxelGrid
from voxforge.pipelines.common import to_grid
from voxforge.voxel import VoxelizeConfig
from voxforge.voxel.lattice import fit_scale
from voxforge.voxel.resample import resample_grid

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@st.composite
def grids(draw: st.DrawFn) -> VoxelGrid:
    """A random non-empty grid: 1..40 cells per axis, sparse or dense, padded, anywhere in space."""
    shape = tuple(draw(st.integers(1, 40)) for _ in range(3))
    seed = draw(st.integers(0, 2**31 - 1))
    density = draw(st.sampled_from([0.02, 0.3, 1.0]))
    rng = np.random.default_rng(seed)
    occ = rng.random(shape) < density
    occ[tuple(int(rng.integers(0, s)) for s in shape)] = True
    pad = [(draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(3)]
    occ = np.pad(occ, pad)
    pitch = draw(st.sampled_from([1.0, 0.01, 0.0037]))
    origin = rng.uniform(-5.0, 5.0, 3) * pitch * draw(st.sampled_from([0.0, 1.0, 10.0]))
    colors = None
    if draw(st.booleans()):
        colors = rng.random((*occ.shape, 3)).astype(np.float32)
    return VoxelGrid(occ, pitch=pitch, origin=origin, colors=colors)


configs = st.one_of(
    st.builds(lambda w: VoxelizeConfig(width_studs=w), st.integers(1, 40)),
    st.builds(
        lambda r: VoxelizeConfig(lattice="cubic", resolution=r, width_studs=None), st.integers(2, 24)
    ),
)


def reference(grid: VoxelGrid, config: VoxelizeConfig) -> tuple[np.ndarray, np.ndarray]:
    """The resampled occupancy (uncropped) by the two rules, and the frame origin, cell by cell.

    Positions are measured from the filled box's min corner (the grid cropped, origin 0), as
    ``resample_grid`` does, so a centre lying exactly on a cell face falls on the same side.
    """
    box = grid.cropped()
    occ = box.occupancy
    frame = fit_scale(np.stack([np.zeros(3), np.asarray(box.shape) * box.pitch]), config)
    out = np.zeros(frame.shape, dtype=bool)
    for cell in np.ndindex(*frame.shape):
        centre = (frame.origin + (np.asarray(cell) + 0.5) * frame.pitch) / frame.scale
        src = np.floor(centre / box.pitch).astype(int)
        if all(0 <= src[a] < occ.shape[a] for a in range(3)) and occ[tuple(src)]:
            out[cell] = True
    for c in np.argwhere(occ):
        centre = (c + 0.5) * box.pitch * frame.scale
        t = np.floor((centre - frame.origin) / frame.pitch).astype(int)
        out[tuple(np.clip(t, 0, np.asarray(frame.shape) - 1))] = True
    return out, frame.origin + box.origin * frame.scale


@FUZZ
@given(grid=grids(), config=configs)
def test_resample_matches_the_cell_by_cell_rules(grid: VoxelGrid, config: VoxelizeConfig) -> None:
    config = config.model_copy(update={"max_cells": 200_000})
    try:
        out = resample_grid(grid, config)
    except VoxforgeError as err:  # a refusal (too big) is one clear line, never a crash
        assert str(err) and "\n" not in str(err)
        return
    want, origin = reference(grid, config)
    assert out.count == int(want.sum()) > 0
    cells = np.argwhere(want)
    shift = np.rint((out.origin - origin) / out.pitch).astype(int)
    np.testing.assert_array_equal(np.argwhere(out.occupancy) + shift, cells)
    if grid.colors is not None:
        assert out.colors is not None and np.isfinite(out.colors).all()
        assert (out.colors[~out.occupancy] == 0).all()


@FUZZ
@given(grid=grids(), width=st.integers(1, 24))
def test_padding_and_origin_do_not_change_the_result(grid: VoxelGrid, width: int) -> None:
    """The same filled cells cropped, or padded and moved, resample to the same LEGO cells."""
    config = VoxelizeConfig(width_studs=width, max_cells=200_000)
    a = resample_grid(grid, config)
    b = resample_grid(grid.cropped(), config)
    np.testing.assert_array_equal(a.occupancy, b.occupancy)


@FUZZ
@given(
    shape=st.tuples(st.integers(1, 40), st.integers(1, 40), st.integers(1, 40)),
    seed=st.integers(0, 2**31 - 1),
)
def test_lego_grid_at_its_own_width_is_unchanged(shape: tuple[int, int, int], seed: int) -> None:
    """A LEGO-lattice grid resampled to its own width in studs gives back its cropped cells."""
    rng = np.random.default_rng(seed)
    occ = rng.random(shape) < 0.4
    occ[0, 0, 0] = occ[-1, -1, -1] = True
    grid = VoxelGrid(occ, pitch=LEGO_PITCH, origin=rng.uniform(-1, 1, 3))
    out = resample_grid(grid, VoxelizeConfig(width_studs=max(shape[:2])))
    np.testing.assert_array_equal(out.occupancy, grid.cropped().occupancy)


@FUZZ
@given(grid=grids(), width=st.integers(1, 24))
def test_pipeline_grid_step_takes_any_cubic_grid(grid: VoxelGrid, width: int) -> None:
    """What ``brickify X.npy`` does with a grid: resampled to ``width`` studs, no internal error."""
    config = VoxelizeConfig(width_studs=width, max_cells=200_000)
    out = to_grid(grid, config)
    assert out.is_lego and out.count > 0
    assert max(out.shape[:2]) <= width
