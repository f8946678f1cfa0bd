"""The stability linear program: per-part equilibrium under stud friction (Clarabel, then HiGHS).

The unit of contact is an *interface*: the rectangle over which one part sits on another (or on
the ground), see :class:`~voxforge.bricks.physics.contacts.Interfaces`. Forces are vertical,
in newtons, positive upward on the upper part (the lower part feels the opposite):

* ``c[i, q] >= 0``: compression at the 4 corners q of the touching rectangle (the bottom of the
  upper part rests on the top of the lower one; corners span every resultant position inside);
* stud tension at the corner studs of the studded rectangle (1, 2 or 4 distinct corners; each
  stands for ``n_studs / corners`` studs, which keeps the total capacity and its centroid, so the
  moment capacity about any edge of the rectangle is that of all its studs): every stud pulls
  with the interface's tension ``m[i] >= 0``, capped by ``m[i] - e[i] <= alpha_i * capacity``
  (``alpha_i = 1``: ``points_per_stud * T`` per stud; a resting interface without studs has
  ``alpha_i = 0``) with the exceedance ``e[i] >= 0``. A distribution where some studs pull less
  than others needs no variables of its own: a stud pulling ``m - v`` is the stud pulling ``m``
  plus a compression ``v`` at the stud, and the stud lies inside the touching rectangle, so that
  compression is a convex combination of the corner compressions (a ``v`` per corner stud would
  add a fifth more columns for the same optimum).

Equilibrium per supported part: Fz, Mx, My about its centre of mass (moments in N * stud, a row
scaling). Gravity is vertical and every contact force above is vertical, so Fx, Fy and Mz hold
with zero horizontal forces and are left out; horizontal knob and side presses would only add
horizontal couples (see the deviations in ``physics.stability``).

Objective: ``10 * sum(e) + 0.001 * sum(m)``: no exceedance is used while the structure can
stand within capacity (the STABLE/UNSTABLE verdict is exact), and among the distributions that
stand, the one with the least total tension is taken. Its largest stud tension is an upper bound
of the smallest possible largest tension, so the reported margin is a conservative (lower) bound
of the maximin friction reserve of Luo et al. 2015. (Minimising that maximum exactly needs one
shared cap variable, a dense column that makes the interior-point solve 10-100x slower.) When
the structure cannot stand, ``sum(e)`` is the least total excess (StableLego's slack). Every
interface can carry any vertical force and moment (exceedance is unbounded), so the program is
feasible whenever every part has a chain of interfaces down to the ground.

Large programs (``witness_from`` interfaces or more) are first solved only roughly: the
interior-point iterates of these programs balance every part to round-off long before they
converge (what they still miss lies in the bounds, mostly the exceedance's ``e >= 0``, which
only slackens the caps further), so a few iterations in (:data:`WITNESS_GAP`) the forces are
usually already a *witness*: every stud within capacity, every compression non-negative,
every part in equilibrium (all checked here, not taken from the solver). That proves the
structure stands, and its largest stress is an upper bound of the least possible largest
stress, like the least-total one's; an interior point spreads tension over more studs (a
small pre-tension everywhere), so it is often lower. When instead the iterate's dual
objective exceeds twice the cost of any distribution within capacity (the tension weight
times every stud at capacity) and the gap is below :data:`NEAR_OPTIMAL_GAP`, no distribution
stands: the verdict is UNSTABLE and the forces are the least total excess to that gap. Only
when neither holds does the exact program run. On models of thousands of parts the rough solve
stops after a fraction of the exact program's iterations.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import sparse
from scipy.optimize import OptimizeWarning, linprog

from voxforge.bricks.physics.contacts import GROUND, Interfaces

log = logging.getLogger(__name__)

EXCEED_WEIGHT = 10.0
"""Objective weight of capacity exceedance (newtons beyond capacity)."""
TENSION_WEIGHT = 1e-3
"""Objective weight of each interface's tension cap ``m``: the least total tension is used, so
exceedance (10,000 times dearer) appears only when no distribution within capacity exists."""
_PITCH_M = 0.008
"""Length unit of the moment rows and of all positions inside the program: the stud pitch."""
_CORNERS = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])
WITNESS_GAP = 0.2
"""Clarabel's relative duality gap at which the rough solve of a large program stops."""
WITNESS_FEASIBILITY = 1e-4
"""Clarabel's feasibility tolerance in the rough solve (a witness is checked on its own)."""
NEAR_OPTIMAL_GAP = 1e-2
"""Largest relative gap between the rough solve's primal and dual objectives at which its
forces stand for the least total excess of a structure that cannot stand."""
BALANCE_TOLERANCE_N = 1e-9
"""Largest equilibrium residual (newtons, newton * stud) a witness may leave on a part."""


class SolveError(Exception):
    """The solver ran out of time or gave up; the analysis reports verdict ``UNKNOWN`` instead.

    Attributes:
        status: ``"time limit"`` or ``"solver failed"``.
        detail: size of the program and the solver's message.
    """

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(f"stability LP: {status} ({detail})")
        self.status, self.detail = status, detail


@dataclass
class LPSolution:
    """The optimal forces, newtons.

    Attributes:
        tension: (p, 4) tension per stud at each interface's corner studs (0 where unused).
        stud_force: (p, 4) net upward force on the upper part at each corner stud (tension
            negative), all the studs the corner stands for together.
        compression: (p, 4) corner compressions.
        exceed: (p,) exceedance per interface.
        net: (p, 3) resultant of each interface's forces on its upper part: upward force
            (newtons) and its first moments ``f * x``, ``f * y`` (newton * lattice unit); the
            lower part feels the opposite.
        tau: the common per-stud tension cap used.
        n_variables, n_rows: size of the program.
        status: ``"optimal"``; ``"witness"`` for a rough solve whose forces stand within
            capacity (stresses are upper bounds); ``"near-optimal"`` for a rough solve that
            proves no distribution stands (least total excess to :data:`NEAR_OPTIMAL_GAP`).
        solve_time_s: wall time of the solver run(s).
        price: (n, 3) ``(c0, cx, cy)`` per part: one newton pushing the part up at lattice
            point (x, y) (a support standing on the ground) changes the least total excess,
            in newtons, by ``c0 + cx x + cy y`` to first order (the equilibrium rows' dual
            prices; negative where a support helps); zeros for a witness, which has none.
    """

    tension: np.ndarray
    stud_force: np.ndarray
    compression: np.ndarray
    exceed: np.ndarray
    net: np.ndarray
    tau: float
    n_variables: int
    n_rows: int
    status: str
    solve_time_s: float
    price: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    @property
    def exact(self) -> bool:
        """True when these are the program's optimal forces (not a rough solve's)."""
        return self.status == "optimal"


@dataclass
class _LinearProgram:
    """``min cost x, row_lo <= a x <= row_hi, lower <= x <= upper``, as both solvers take it."""

    a: sparse.csc_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @cached_property
    def rows(self) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
        """The matrix by rows and three row masks: equalities, then the other rows with a
        finite upper bound, and those with a finite lower bound."""
        lo, hi = self.row_lo, self.row_hi
        eq = np.isfinite(lo) & np.isfinite(hi) & (lo == hi)
        return sparse.csr_matrix(self.a), eq, ~eq & np.isfinite(hi), ~eq & np.isfinite(lo)

    @cached_property
    def cone(self) -> tuple[sparse.csc_matrix, np.ndarray, int]:
        """Clarabel's form ``a_cone x + s = b_cone``: ``n_zero`` rows in the zero cone (the
        equalities), the rest (``b - A x >= 0``) in the nonnegative cone; built once for the
        rough and the exact solve."""
        a, eq, up, lo = self.rows
        n = a.shape[1]
        ident = sparse.identity(n, format="csr")
        has_lo, has_up = np.isfinite(self.lower), np.isfinite(self.upper)
        a_cone = sparse.vstack([a[eq], a[up], -a[lo], -ident[has_lo], ident[has_up]]).tocsc()
        b_cone = np.concatenate(
            [self.row_lo[eq], self.row_hi[up], -self.row_lo[lo], -self.lower[has_lo], self.upper[has_up]]
        )
        return a_cone, b_cone, int(eq.sum())


TENSION_TOLERANCE_N = 1e-7
"""Tension below this many newtons is solver round-off, read as zero."""
STRESS_TOLERANCE = 1e-6
"""Stress above ``1 + STRESS_TOLERANCE`` counts as over capacity (solver round-off guard)."""


def interface_stress(tension: np.ndarray, studded: np.ndarray, capacity: float) -> np.ndarray:
    """(p,) stress per interface from (p, 4) per-stud tensions, newtons.

    Studded interfaces: largest tension per stud / the stud's ``capacity``. An interface without
    studs cannot hold any tension: its stress is ``1 + t / capacity`` when it must carry
    ``t > 0`` and 0 otherwise.
    """
    t = tension.max(axis=1) if tension.size else np.zeros(len(studded))
    t = np.where(t > TENSION_TOLERANCE_N, t, 0.0)
    return np.where(studded, t / capacity, np.where(t > 0, 1.0 + t / capacity, 0.0))


def _vertical_entries(
    cols: np.ndarray,
    parts: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    coef: np.ndarray,
    com: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COO entries of upward forces ``coef`` (m,) at (px, py) (m,) on ``parts`` (m,).

    Rows per part: 3 i (Fz), 3 i + 1 (Mx), 3 i + 2 (My); a vertical force f at arm (dx, dy) from
    the centre of mass gives Mx = dy f and My = -dx f. Forces on the ground are dropped.
    """
    on = (parts != GROUND) & (coef != 0.0)
    cols, parts, px, py, coef = cols[on], parts[on], px[on], py[on], coef[on]
    dx = px - com[parts, 0]
    dy = py - com[parts, 1]
    rows = np.concatenate([3 * parts, 3 * parts + 1, 3 * parts + 2])
    vals = np.concatenate([coef, dy * coef, -dx * coef])
    return rows, np.tile(cols, 3), vals


def _both(
    cols: np.ndarray,
    iface: Interfaces,
    per: int,
    px: np.ndarray,
    py: np.ndarray,
    coef: np.ndarray,
    com: np.ndarray,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Entries of an upward force on each interface's upper part and its reaction on the lower."""
    up = np.repeat(iface.upper, per)
    lo = np.repeat(iface.lower, per)
    return [
        _vertical_entries(cols, up, px, py, coef, com),
        _vertical_entries(cols, lo, px, py, -coef, com),
    ]


def _stud_corners(iface: Interfaces) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p, 4) x, y stud-centre positions (studs) and weights (studs represented, 0 = duplicate)."""
    sr = iface.stud_rect.astype(np.float64)
    x = np.where(_CORNERS[None, :, 0] == 0, sr[:, [0]] + 0.5, sr[:, [1]] - 0.5)
    y = np.where(_CORNERS[None, :, 1] == 0, sr[:, [2]] + 0.5, sr[:, [3]] - 0.5)
    one_x = (iface.stud_rect[:, 1] - iface.stud_rect[:, 0]) == 1
    one_y = (iface.stud_rect[:, 3] - iface.stud_rect[:, 2]) == 1
    live = np.ones((len(iface), 4), dtype=bool)
    live[one_x[:, None] & (_CORNERS[None, :, 0] == 1)] = False
    live[one_y[:, None] & (_CORNERS[None, :, 1] == 1)] = False
    count = np.where(iface.n_studs > 0, iface.n_studs, iface.n_cells).astype(np.float64)
    weight = np.where(live, (count / live.sum(axis=1))[:, None], 0.0)
    return x, y, weight


def solve_equilibrium(
    com: np.ndarray,
    weight: np.ndarray,
    iface: Interfaces,
    stud_capacity: float,
    time_limit_s: float,
    pitch: np.ndarray,
    moment: np.ndarray | None = None,
    witness_from: int | None = None,
) -> LPSolution:
    """Build and solve the program for ``n`` supported parts.

    Args:
        com: (n, 3) float64 centres of mass, lattice units (studs, studs, plates).
        weight: (n,) float64 newtons.
        iface: interfaces among these parts (indices 0..n-1, ground = :data:`GROUND`).
        stud_capacity: tension one stud holds, newtons (points per stud x T).
        time_limit_s: wall-clock limit of the solve (Clarabel and HiGHS together).
        pitch: (3,) metres per lattice cell (moments use x, y in units of the stud pitch).
        moment: (n, 2) a couple each part's load carries besides ``weight`` at ``com``
            (newton * lattice unit, ``Mx`` and ``My`` as :func:`_vertical_entries` counts them
            for the upward forces; None: none). Any resultant is a force at ``com`` and a
            couple, also one whose force does not point down (fixed pulls from outside
            cancelling a weight), which has no centre of its own.
        witness_from: programs over this many interfaces or more get the rough solve first
            (see the module docstring); None: always the exact program.
    """
    n, p = len(weight), len(iface)
    sx, sy = float(pitch[0]) / _PITCH_M, float(pitch[1]) / _PITCH_M
    com_s = com[:, :2] * np.array([sx, sy])
    base_e, base_m, base_c = 0, p, 2 * p
    n_var = base_c + 4 * p

    entries = []
    # corner compressions
    r = iface.rect.astype(np.float64)
    cx = np.where(_CORNERS[None, :, 0] == 0, r[:, [0]], r[:, [1]]).ravel() * sx
    cy = np.where(_CORNERS[None, :, 1] == 0, r[:, [2]], r[:, [3]]).ravel() * sy
    c_cols = base_c + np.arange(4 * p)
    entries += _both(c_cols, iface, 4, cx, cy, np.ones(4 * p), com_s)
    # stud tension m per stud, w studs at each corner, downward on the upper part
    x, y, w = _stud_corners(iface)
    x, y, w = x.ravel() * sx, y.ravel() * sy, w.ravel()
    m_cols = base_m + np.repeat(np.arange(p), 4)
    entries += _both(m_cols, iface, 4, x, y, -w, com_s)
    rows = np.concatenate([e[0] for e in entries])
    cols = np.concatenate([e[1] for e in entries])
    vals = np.concatenate([e[2] for e in entries])
    # caps: m[i] - e[i] <= alpha_i * capacity, one row per interface. The capacity is a constant
    # on the right-hand side, not a shared variable: one variable in every cap row would be a
    # dense column, and interior-point normal equations (A D A^T) turn dense with it (230 ms per
    # iteration at 9k rows instead of a few).
    alpha = (iface.n_studs > 0).astype(np.float64)
    i = np.arange(p)
    cap_rows = 3 * n + np.concatenate([i, i])
    cap_cols = np.concatenate([base_m + i, base_e + i])
    cap_vals = np.concatenate([np.ones(p), -np.ones(p)])
    rows = np.concatenate([rows, cap_rows])
    cols = np.concatenate([cols, cap_cols])
    vals = np.concatenate([vals, cap_vals])
    keep = vals != 0.0
    a = sparse.csc_matrix((vals[keep], (rows[keep], cols[keep])), shape=(3 * n + p, n_var))
    a.sum_duplicates()
    row_lo = np.concatenate([np.zeros(3 * n), np.full(p, -np.inf)])
    row_lo[0 : 3 * n : 3] = weight
    if moment is not None:
        row_lo[1 : 3 * n : 3] = moment[:, 0] * sy
        row_lo[2 : 3 * n : 3] = moment[:, 1] * sx
    row_hi = np.concatenate([row_lo[: 3 * n], alpha * stud_capacity])

    cost = np.zeros(n_var)
    cost[base_e:base_m] = EXCEED_WEIGHT
    cost[base_m:base_c] = TENSION_WEIGHT
    lower = np.zeros(n_var)
    upper = np.full(n_var, np.inf)

    lp = _LinearProgram(a, row_lo, row_hi, cost, lower, upper)
    x_opt, status, dt, duals = None, "optimal", 0.0, np.zeros(3 * n)
    if witness_from is not None and p >= witness_from:
        t0 = time.perf_counter()
        x_opt, status, duals = _rough(lp, alpha * stud_capacity, 3 * n, time_limit_s)
        dt = time.perf_counter() - t0
        time_limit_s -= dt
    if x_opt is None:
        x_opt, status, dt_exact, duals = _solve_lp(lp, time_limit_s)
        dt += dt_exact
    tau = float(x_opt[base_m:base_c].max(initial=0.0))
    e = x_opt[base_e:base_m]
    wr = w.reshape(p, 4)
    per_stud = np.where(wr > 0.0, x_opt[base_m:base_c][:, None], 0.0)
    stud_force = -per_stud * wr
    comp = x_opt[base_c:].reshape(p, 4)
    net = np.stack(
        [
            comp.sum(axis=1) + stud_force.sum(axis=1),
            (comp * cx.reshape(p, 4)).sum(axis=1) / sx + (stud_force * x.reshape(p, 4)).sum(axis=1) / sx,
            (comp * cy.reshape(p, 4)).sum(axis=1) / sy + (stud_force * y.reshape(p, 4)).sum(axis=1) / sy,
        ],
        axis=1,
    )
    return LPSolution(
        tension=np.maximum(per_stud, 0.0),
        stud_force=stud_force,
        compression=comp,
        exceed=e,
        net=net,
        tau=tau,
        n_variables=n_var,
        n_rows=3 * n,
        status=status,
        solve_time_s=dt,
        price=_price_planes(duals[: 3 * n].reshape(n, 3), com_s, sx, sy),
    )


def _price_planes(duals: np.ndarray, com_s: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """(n, 3) ``(c0, cx, cy)`` of :attr:`LPSolution.price` from the (n, 3) duals of the Fz, Mx,
    My rows (the reduced cost of an upward unit force at (x, y) is ``y_z + y_mx dy - y_my dx``,
    :func:`_vertical_entries`' arms; divided by the exceedance's weight it is in newtons)."""
    yz, ymx, ymy = duals[:, 0], duals[:, 1], duals[:, 2]
    c0 = yz - ymx * com_s[:, 1] + ymy * com_s[:, 0]
    return np.stack([c0, -ymy * sx, ymx * sy], axis=1) / EXCEED_WEIGHT


def _solve_lp(lp: _LinearProgram, time_limit_s: float) -> tuple[np.ndarray, str, float, np.ndarray]:
    """Solve ``lp`` to its optimum: the solution, its status, the time and the equalities' duals
    (Clarabel's sign: the objective falls by ``-z`` per unit more on the right-hand side).

    Clarabel first: an interior-point method with a direct sparse LDL factorisation, 5-10x
    faster here than HiGHS' IPX, whose iterative (Krylov) linear algebra crawls on these
    equilibrium programs (~0.2 s per iteration at 9k rows). HiGHS (through SciPy, statically
    linked there: the ``highspy`` wheel and OR-Tools ship clashing HiGHS builds) finishes the rare
    program Clarabel does not solve, with its dual simplex.
    """
    t0 = time.perf_counter()
    out = _run_clarabel(lp, time_limit_s)
    if out is not None:
        return out[0], "optimal", time.perf_counter() - t0, out[3]
    remaining = max(float(time_limit_s) - (time.perf_counter() - t0), 1.0)
    a, eq, up, lo = lp.rows
    a_ub = sparse.vstack([a[up], -a[lo]]).tocsc()
    b_ub = np.concatenate([lp.row_hi[up], -lp.row_lo[lo]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)  # options passed to HiGHS verbatim
        res = linprog(
            lp.cost,
            A_ub=a_ub if a_ub.shape[0] else None,
            b_ub=b_ub if a_ub.shape[0] else None,
            A_eq=a[eq].tocsc() if eq.any() else None,
            b_eq=lp.row_lo[eq] if eq.any() else None,
            bounds=np.c_[lp.lower, lp.upper],
            method="highs-ds",
            options={"time_limit": remaining, "threads": 1},
        )
    dt = time.perf_counter() - t0
    log.debug("stability LP highs-ds: %d vars: %s", a.shape[1], res.message)
    if _timed_out(res):
        raise SolveError("time limit", f"stopped after {dt:.1f} s")
    if res.status != 0:
        raise SolveError("solver failed", str(res.message))
    marginals = getattr(getattr(res, "eqlin", None), "marginals", None)
    duals = -np.asarray(marginals) if marginals is not None else np.zeros(int(eq.sum()))
    return np.asarray(res.x), "optimal", dt, duals


def _rough(
    lp: _LinearProgram, caps: np.ndarray, n_balance: int, time_limit_s: float
) -> tuple[np.ndarray | None, str, np.ndarray]:
    """The rough solve of the module docstring: ``(x, "witness", 0)`` when its forces stand,
    ``(x, "near-optimal", z)`` when its dual bound proves that nothing stands (``z`` the
    equalities' duals, as :func:`_solve_lp` gives them), else ``(None, "", 0)``.

    The columns are laid out as :func:`solve_equilibrium` builds them: exceedance ``e``, tension
    ``m`` (``caps`` (p,) is each one's capacity), then the corner compressions; the first
    ``n_balance`` rows are the equilibrium rows.
    """
    p = len(caps)
    none = np.zeros(n_balance)
    out = _run_clarabel(lp, time_limit_s, rough=True)
    if out is None:
        return None, "", none
    x, primal, dual, z = out
    m, forces = x[p : 2 * p], x[p:]
    within = np.where(caps > 0, m <= caps * (1.0 + STRESS_TOLERANCE), m <= TENSION_TOLERANCE_N)
    if forces.min(initial=0.0) >= -1e-12 and within.all():
        x = np.concatenate([np.zeros(p), np.maximum(forces, 0.0)])
        residual = lp.a[:n_balance] @ x - lp.row_lo[:n_balance]
        if np.abs(residual).max(initial=0.0) <= BALANCE_TOLERANCE_N:
            return x, "witness", none
    x[:p] = np.maximum(m - caps, 0.0)
    # any distribution within capacity costs at most ``bound``; the dual objective is a lower
    # bound of the optimum (up to the rough dual's residual: hence the factor 2), so past it
    # nothing stands, and a small gap makes the excess near its least
    bound = TENSION_WEIGHT * float(caps.sum())
    if dual > 2.0 * bound and primal - dual <= NEAR_OPTIMAL_GAP * dual:
        return x, "near-optimal", z
    return None, "", none


def _run_clarabel(
    lp: _LinearProgram, time_limit_s: float, rough: bool = False
) -> tuple[np.ndarray, float, float, np.ndarray] | None:
    """The program in Clarabel's conic form: its solution, primal and dual objectives and the
    equalities' duals, or None when Clarabel does not solve it. ``rough``: stop at
    :data:`WITNESS_GAP`."""
    try:
        import clarabel
    except ImportError:  # optional speed-up; HiGHS still solves everything
        return None
    if time_limit_s <= 0.0:  # the solves before this one used the analysis' whole time limit
        raise SolveError("time limit", "the time limit ran out before this solve")
    t0 = time.perf_counter()
    a_cone, b_cone, n_zero = lp.cone
    n = a_cone.shape[1]
    cones = [clarabel.ZeroConeT(n_zero), clarabel.NonnegativeConeT(len(b_cone) - n_zero)]
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.time_limit = float(time_limit_s)
    # Brick weights are grams, so forces are millinewtons and the objective ~1e-4: absolute
    # tolerances must sit far below Clarabel's defaults (1e-8) for stresses to agree to 1e-6.
    settings.tol_gap_abs = 1e-13
    settings.tol_gap_rel = 1e-10
    # The tension m is a column of its own (not a difference of two), so a loose
    # feasibility tolerance leaves it at the solver's interior (1e-7 N on a lone brick that
    # needs none); 1e-12 pins it to 0 at no extra iterations on 900-part programs.
    settings.tol_feas = 1e-12
    # Few refinement steps: near the optimum of large solid models (3D fill-in, ill-conditioned
    # KKT systems) the default 10 makes late iterations 10x dearer (a 1,995-part night stand
    # solves in 123 s with 10 steps and in 12 s with 2, to the same optimum).
    settings.iterative_refinement_max_iter = 2
    if rough:
        settings.tol_gap_rel = WITNESS_GAP
        settings.tol_feas = WITNESS_FEASIBILITY
    # QDLDL, single-threaded: Clarabel's "auto" picks the supernodal faer solver, 4-7x slower on
    # these programs on 2 cores (a 955-part night stand region: 3.4 s with QDLDL, 15-24 s auto).
    if hasattr(settings, "direct_solve_method"):
        settings.direct_solve_method = "qdldl"
        settings.max_threads = 1
    solver = clarabel.DefaultSolver(sparse.csc_matrix((n, n)), lp.cost, a_cone, b_cone, cones, settings)
    sol = solver.solve()
    status = str(sol.status)
    log.debug("stability LP clarabel: %d vars: %s in %d iterations", n, status, sol.iterations)
    if status == "MaxTime":
        raise SolveError("time limit", f"stopped after {time.perf_counter() - t0:.1f} s")
    if status not in ("Solved", "AlmostSolved"):
        return None
    return np.asarray(sol.x), float(sol.obj_val), float(sol.obj_val_dual), np.asarray(sol.z)[:n_zero]


def _timed_out(res: object) -> bool:
    return getattr(res, "status", None) == 1 and "time" in str(getattr(res, "message", "")).lower()
