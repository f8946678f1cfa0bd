"""Exact per-layer layout strategies: OR-Tools CP-SAT (``optimal``) and HiGHS MILP (``highs``).

Both solve the same exact-cover model as the greedy strategy scores: one 0/1 variable per
candidate placement, every cell of the layer covered exactly once, minimise the summed layer cost
(fewer parts, more bonding to the layer below, fewer seams on seams). The greedy cover is the
starting hint and the fallback when a solver finds nothing better within its slice of the work
(deterministic limits, so the cover depends on the problem, the work and the seed only).
"""

from __future__ import annotations

import logging
import math

import numpy as np
from scipy import sparse

from voxforge.bricks.cap import TimeCap
from voxforge.bricks.layout.problem import LayerProblem

log = logging.getLogger(__name__)

_COST_SCALE = 10.0
"""CP-SAT needs integer objective coefficients: costs are scaled by this and rounded."""


def cover_matrix(problem: LayerProblem) -> tuple[sparse.csr_matrix, np.ndarray]:
    """(n_cells, m) 0/1 CSR matrix of which candidate covers which layer cell, and the cell ids.

    Cells are numbered in C order over ``problem.hbits > 0``; returns the matrix and the (n_cells,)
    flat indices of those cells in the (nx, ny) layer.
    """
    nx, ny = problem.hbits.shape
    cell_flat = np.flatnonzero(problem.hbits > 0)
    cell_id = np.full(nx * ny, -1, dtype=np.int64)
    cell_id[cell_flat] = np.arange(len(cell_flat))
    rows, cols = [], []
    sx, sy = problem.sx, problem.sy
    for dx in range(int(sx.max(initial=0))):
        for dy in range(int(sy.max(initial=0))):
            sel = np.flatnonzero((sx > dx) & (sy > dy))
            flat = (problem.cx[sel] + dx) * ny + (problem.cy[sel] + dy)
            rows.append(cell_id[flat])
            cols.append(sel)
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    data = np.ones(len(r), dtype=np.float64)
    mat = sparse.csr_matrix((data, (r, c)), shape=(len(cell_flat), len(problem.cx)))
    return mat, cell_flat


def solve_cpsat(
    problem: LayerProblem, work: float, cap: TimeCap | None = None, num_workers: int = 2
) -> np.ndarray:
    """CP-SAT exact cover of one layer within ``work`` deterministic seconds; the greedy cover
    when it finds nothing better.

    The search is CP-SAT's interleaved one (deterministic for any ``num_workers``) stopped by
    ``max_deterministic_time``, so the cover depends on the problem, ``work`` and the seed only;
    the wall clock stops it only at ``cap`` (then ``cap.hit`` records ``layout``).
    """
    from ortools.sat.python import cp_model

    greedy = problem.greedy()
    wall = math.inf if cap is None else cap.left()
    if work <= 1e-3 or len(greedy) <= 1 or wall <= 0.0:
        if wall <= 0.0 and cap is not None:
            cap.stopped("layout")
        return greedy
    mat, _ = cover_matrix(problem)
    m = len(problem.cx)
    model = cp_model.CpModel()
    x = [model.NewBoolVar("") for _ in range(m)]
    indptr, indices = mat.indptr, mat.indices
    for r in range(mat.shape[0]):
        model.AddExactlyOne([x[i] for i in indices[indptr[r] : indptr[r + 1]]])
    coef = np.rint(problem.layer_cost() * _COST_SCALE).astype(np.int64)
    model.Minimize(sum(int(coef[i]) * x[i] for i in range(m)))
    hinted = np.zeros(m, dtype=bool)
    hinted[greedy] = True
    for i in range(m):
        model.AddHint(x[i], bool(hinted[i]))
    solver = cp_model.CpSolver()
    solver.parameters.max_deterministic_time = float(work)
    if math.isfinite(wall):
        solver.parameters.max_time_in_seconds = float(wall)
    solver.parameters.num_workers = num_workers
    solver.parameters.interleave_search = True
    solver.parameters.random_seed = int(problem.seed) % (2**31)
    status = solver.Solve(model)
    if status != cp_model.OPTIMAL and cap is not None and solver.wall_time >= 0.99 * wall:
        cap.stopped("layout")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        log.debug("CP-SAT found no cover of layer z=%d in %.3f units; using greedy", problem.z, work)
        return greedy
    chosen = np.flatnonzero([solver.BooleanValue(v) for v in x]).astype(np.int64)
    if coef[chosen].sum() > coef[greedy].sum():
        return greedy
    return chosen


HIGHS_NODES_PER_WORK = 1000
"""Branch-and-bound nodes HiGHS may explore per unit of work (scipy's ``milp`` offers a node
limit, not a deterministic time)."""


def solve_highs(problem: LayerProblem, work: float, cap: TimeCap | None = None) -> np.ndarray:
    """HiGHS MILP (``scipy.optimize.milp``) exact cover within ``work`` x
    :data:`HIGHS_NODES_PER_WORK` nodes; greedy when it finds nothing better.

    The wall clock stops it only at ``cap`` (then ``cap.hit`` records ``layout``)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    greedy = problem.greedy()
    wall = math.inf if cap is None else cap.left()
    if work <= 1e-3 or len(greedy) <= 1 or wall <= 0.0:
        if wall <= 0.0 and cap is not None:
            cap.stopped("layout")
        return greedy
    mat, _ = cover_matrix(problem)
    cost = problem.layer_cost()
    options: dict[str, float | int | bool] = {
        "node_limit": max(1, int(work * HIGHS_NODES_PER_WORK)),
        "disp": False,
    }
    if math.isfinite(wall):
        options["time_limit"] = float(wall)
    res = milp(
        cost,
        constraints=LinearConstraint(mat, lb=1.0, ub=1.0),
        integrality=np.ones(len(cost)),
        bounds=Bounds(0.0, 1.0),
        options=options,
    )
    if res.status == 1 and "time" in str(res.message).lower() and cap is not None:
        cap.stopped("layout")
    if res.x is None:
        log.debug("HiGHS found no cover of layer z=%d in %.3f units; using greedy", problem.z, work)
        return greedy
    chosen = np.flatnonzero(res.x > 0.5).astype(np.int64)
    if cost[chosen].sum() > cost[greedy].sum() + 1e-9 or not (mat @ (res.x > 0.5) == 1).all():
        return greedy
    return chosen
