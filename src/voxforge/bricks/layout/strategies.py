"""The layout-strategy registry: ``greedy``, ``optimal`` (CP-SAT) and ``highs`` (MILP).

Each strategy is a :data:`~voxforge.bricks.layout.problem.LayerSolver`: ``solve(problem,
work, cap) -> chosen``, an exact cover of one layer problem. Every strategy is registered here, so
importing :data:`LAYOUT_STRATEGIES` gives all of them.
"""

from __future__ import annotations

from voxforge.bricks.layout.exact import solve_cpsat, solve_highs
from voxforge.bricks.layout.greedy import solve_greedy
from voxforge.bricks.layout.problem import LayerSolver
from voxforge.core.registry import Registry

LAYOUT_STRATEGIES: Registry[LayerSolver] = Registry("layout strategy")
LAYOUT_STRATEGIES.register("greedy", solve_greedy)
LAYOUT_STRATEGIES.register("optimal", solve_cpsat)
LAYOUT_STRATEGIES.register("highs", solve_highs)
