"""The greedy layout strategy: cheapest placement per cell first, with one step of look-ahead."""

from __future__ import annotations

import numpy as np

from voxforge.bricks.layout.problem import LayerProblem


def solve_greedy(problem: LayerProblem, budget_s: float) -> np.ndarray:
    """Cheapest-per-cell first with one step of look-ahead; ignores the time budget (milliseconds)."""
    return problem.greedy()
