"""Finishing passes: slopes and tiles never change the shape or break a connection."""

from __future__ import annotations

import numpy as np

from voxforge.bricks.connectivity import connectivity_report
from voxforge.bricks.lay import LayoutConfig, lay_bricks
from voxforge.bricks.layout.finishing import finish_slopes, finish_tiles
from voxforge.core.brickmodel import BrickModel, Placement
from voxforge.core.voxelgrid import VoxelGrid


def staircase() -> np.ndarray:
    occ = np.zeros((4, 2, 6), bool)
    occ[:, :, 0:3] = True  # lower step: one 2x4 brick
    occ[0:2, :, 3:6] = True  # upper step: a 2x2 brick on its x-min half
    return occ


def test_step_brick_becomes_a_slope_falling_toward_the_lower_side():
    occ = staircase()
    plain, _ = lay_bricks(VoxelGrid(occ), None)
    model, rep = lay_bricks(VoxelGrid(occ), None, LayoutConfig(finish_slopes=True))
    assert rep.slopes == 1
    slope = [p for p in model.placements if p.z == 3]
    assert [(p.part, p.rotation, p.sx, p.sy) for p in slope] == [("3039", 0, 2, 2)]
    np.testing.assert_array_equal(model.occupancy(), plain.occupancy())
    assert connectivity_report(model).connected


def test_covered_brick_stays_a_brick():
    m = BrickModel(
        [
            Placement("3001", 0, 0, 0, 4, 2, 3, 4),
            Placement("3003", 0, 0, 3, 2, 2, 3, 4),
            Placement("3022", 0, 0, 6, 2, 2, 1, 4),
        ],
        shape=(4, 2, 7),
    )
    out, n = finish_slopes(m)
    assert n == 0 and out.placements == m.placements


def test_uncovered_plates_become_tiles_and_covered_ones_do_not():
    m = BrickModel(
        [
            Placement("3022", 0, 0, 0, 2, 2, 1, 4),
            Placement("3023", 0, 0, 1, 2, 1, 1, 4),
            Placement("3024", 0, 1, 1, 1, 1, 1, 4),
        ],
        shape=(2, 2, 2),
    )
    out, n = finish_tiles(m)
    assert n == 2
    assert [p.part for p in out.placements] == ["3022", "3069b", "3070b"]
    np.testing.assert_array_equal(out.occupancy(), m.occupancy())
    assert connectivity_report(out).connected


def test_colour_check_can_refuse_a_finish():
    m = BrickModel([Placement("3022", 0, 0, 0, 2, 2, 1, 4)], shape=(2, 2, 1))
    out, n = finish_tiles(m, lambda key, color: color != 4)
    assert n == 0 and out.placements == m.placements


def test_finishing_random_shapes_keeps_occupancy_and_connections():
    rng = np.random.default_rng(4)
    heights = rng.integers(1, 4, size=(6, 6)) * 3
    occ = np.arange(12)[None, None, :] < heights[:, :, None]
    plain, prep = lay_bricks(VoxelGrid(occ), None)
    model, rep = lay_bricks(VoxelGrid(occ), None, LayoutConfig(finish_slopes=True, finish_tiles=True))
    assert rep.slopes > 0
    np.testing.assert_array_equal(model.occupancy(), plain.occupancy())
    assert rep.connectivity["n_components"] == prep.connectivity["n_components"]
    assert rep.connectivity["grounded"] == prep.connectivity["grounded"]
