"""Test doubles for the repair tests: made-up physics verdicts and a bare layout state."""

from __future__ import annotations

import numpy as np

from voxforge.bricks.layout.problem import part_table
from voxforge.bricks.layout.state import LayoutState
from voxforge.bricks.physics.report import StabilityReport, Verdict


def fake_report(
    stable: bool,
    margin: float,
    weakest: list[int] | tuple[int, ...],
    stress: np.ndarray,
    interface_stress: np.ndarray | None = None,
    prop_price: np.ndarray | None = None,
    *,
    interface_parts: np.ndarray | None = None,
    verdict: Verdict | None = None,
) -> StabilityReport:
    """A physics verdict made up by a test: what the repair loop reads is set, the rest is empty."""
    return StabilityReport(
        stable=stable,
        verdict=verdict or ("STABLE" if stable else "UNSTABLE"),
        margin=margin,
        max_stress=1.0 - margin,
        stress=stress,
        weakest=list(weakest),
        n_parts=len(stress),
        n_contacts=0,
        n_variables=0,
        solve_time_s=0.0,
        floating=[],
        status="test double",
        interface_stress=np.zeros(0) if interface_stress is None else interface_stress,
        interface_parts=np.zeros((0, 2), np.int64) if interface_parts is None else interface_parts,
        prop_price=np.zeros((0, 3)) if prop_price is None else prop_price,
    )


def layout_state(occ: np.ndarray) -> LayoutState:
    """An empty layout of the filled cells ``occ``, all red, with red and grey available."""
    code = np.full(occ.shape, 4, np.int32)
    palette = np.array([4, 71], np.int32)
    table = part_table()
    return LayoutState(occ.copy(), code, palette, np.ones((len(table.fps), 2), bool), table)
