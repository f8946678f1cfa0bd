"""The greedy layout strategy: cheapest placement per cell first, with one step of look-ahead."""

from __future__ import annotations

import numpy as np

from voxforge.bricks.cap import TimeCap
from voxforge.bricks.layout.problem import LayerProblem


def solve_greedy(problem: LayerProblem, work: float, cap: TimeCap | None = None) -> np.ndarray:
    """Cheapest-per-cell first with one step of look-ahead; ignores the work and the cap
    (milliseconds)."""
    return problem.greedy()
