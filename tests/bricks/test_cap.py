"""The layout is a function of its inputs, config and seed; the wall clock is only a safety cap."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from voxforge.bricks.cap import TimeCap, no_cap
from voxforge.bricks.lay import LayoutConfig, lay_bricks
from voxforge.core.voxelgrid import VoxelGrid


class FastClock:
    """A ``time.perf_counter`` stand-in for a very slow machine: each call is ``step`` s later."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def two_colour_slab() -> tuple[VoxelGrid, np.ndarray]:
    """A 6x6 block, red and blue halves with yellow stripes across the seam: parts never mix
    colours, so the layout comes out in pieces and the bridging repair joins them."""
    occ = np.ones((6, 6, 6), bool)
    col = np.full(occ.shape, 4, np.int32)
    col[3:] = 1
    col[2:4, :, ::2] = 14
    return VoxelGrid(occ), col


@pytest.mark.parametrize("strategy", ["greedy", "optimal", "highs"])
def test_a_slow_clock_lays_the_same_bricks(monkeypatch, strategy):
    grid, col = two_colour_slab()
    cfg = LayoutConfig(strategy=strategy, solver_work=0.5)
    quick, rep = lay_bricks(grid, col, cfg)
    assert rep.bridged_layers and rep.connectivity["n_components"] == 1
    assert rep.time_limited == [] and "time_limited" not in rep.as_dict()

    clock = FastClock(step=5.0)
    monkeypatch.setattr(time, "perf_counter", clock)
    slow, slow_rep = lay_bricks(grid, col, cfg)
    # the clock ran minutes, far past what the work takes, still under the 300 s cap
    assert 60.0 < clock.now < cfg.time_budget
    assert slow_rep.time_limited == []
    assert slow.placements == quick.placements
    assert slow_rep.bridged_layers == rep.bridged_layers


def test_the_cap_stops_a_slow_layout_and_says_so(monkeypatch):
    grid, col = two_colour_slab()
    monkeypatch.setattr(time, "perf_counter", FastClock(step=1.0))
    model, rep = lay_bricks(grid, col, LayoutConfig(time_budget=3.0))
    assert "connect" in rep.time_limited
    assert rep.as_dict()["time_limited"] == rep.time_limited
    note = rep.connectivity["notes"][-1]
    assert "stopped by the time limit" in note and "raise --time-budget" in note
    # stopped before bridging: the pieces stay apart, and the report says why
    assert rep.connectivity["n_components"] > 1 and not rep.bridged_layers
    assert len(model) == rep.n_parts


def test_time_cap_records_each_stage_once(monkeypatch):
    clock = FastClock(step=1.0)
    monkeypatch.setattr(time, "perf_counter", clock)
    cap = TimeCap(1.5)
    assert not cap.expired("layout") and cap.hit == []  # 1 s after the start
    assert cap.expired("connect") and cap.expired("connect")
    cap.stopped("physics")
    assert cap.hit == ["connect", "physics"] and cap.left() == 0.0
    assert no_cap().left() == math.inf and not no_cap().expired("layout")
