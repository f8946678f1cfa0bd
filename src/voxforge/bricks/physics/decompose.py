"""Solve the stability program only where tension is needed; prove the rest by compression.

The program of :mod:`voxforge.bricks.physics.lp` couples every part of a model, but on real
models almost every load reaches the ground by compression alone
(:mod:`voxforge.bricks.physics.compression`). The parts that need stud friction are of two kinds,
handled in two stages.

**Hanging parts** (nothing below them; most of the failures on real models: the layout fills the
underside of overhangs). The program is solved on them alone (``H``), every interface above them
acting as a fixed ceiling. This is the full program with the rows of every other part dropped,
so its optimum is a *lower bound* of the full optimum. Their pull on the ceiling parts joins
those parts' loads, and the compression pass carries everything else with the hanging
interfaces blocked. When that pass succeeds, the forces together satisfy every part's
equilibrium and every capacity with no tension outside ``H``: a witness that reaches the lower
bound, so the answer **equals the full program's optimum** (its objective, the least total
tension; the largest stud tension of two optimal distributions can differ by solver precision).

**Cantilevers** (parts the pass still cannot carry). Loads flow down a DAG (upper part ->
lower part), and the region ``R`` (those parts grown by ``grow_hops`` interfaces) is kept
convex in it, so the parts outside are either *ancestors* of ``R`` (their compression loads onto
``R`` do not depend on ``R``) or not. One round: a pass over the parts outside gives the
ancestors' loads; the program on ``R`` runs with those loads fixed and with the parts below
``R`` acting as ground; a second pass, loaded with the program's reactions, checks the parts
outside. Parts that fail join ``R`` and the round repeats. The result is again a witness for
the whole model, so STABLE is proven, but fixing the ancestors' loads can only overstate stress:
``max_stress`` is an *upper bound* (conservative), exact whenever it does not exceed the hanging
stage's lower bound. A region over capacity is widened to all its ancestors, which makes the
program on it a relaxation too (nothing is fixed), so an UNSTABLE verdict is always exact.
A region that grows past :data:`FULL_SHARE` of the model, or still fails after
:data:`MAX_REGION_ROUNDS` programs, is replaced by the whole program; so are the hanging parts
when they are more than that share (a chair joined to its legs only at the seat hangs almost
whole: the hanging stage would cost about as much as the whole program, which then runs anyway).
When the whole program gets the rough solve (``witness_from``), a
region, or the hanging parts, over :data:`ROUGH_WHOLE_SHARE` of the interfaces gives way to it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from voxforge.bricks.physics.compression import CompressionPass, compression_pass
from voxforge.bricks.physics.contacts import GROUND, Interfaces
from voxforge.bricks.physics.lp import (
    STRESS_TOLERANCE,
    LPSolution,
    SolveError,
    interface_stress,
    solve_equilibrium,
)

FULL_SHARE = 0.8
"""When a cantilever region (with the hanging parts) holds more than this share of the parts,
the whole program is solved instead: it costs about the same and is exact."""
MAX_REGION_ROUNDS = 2
"""Regional programs tried before the whole program is solved instead: each widening round of a
large region costs a program about as dear as the whole one."""
RAISE_HOPS = 6
"""A region over capacity first takes in the parts this many interfaces above it (fixed loads from
above, spread greedily, are what usually overloads it); only if it is still over capacity does
it take every part above it, which makes its program a relaxation and the verdict exact."""
MAX_SOLVES = 24
"""Programs (regions and rounds together) before the whole program is solved instead."""
SMALL_REGION_SHARE = 0.4
MAX_SMALL_REGION_ROUNDS = 8
"""A program over at most ``SMALL_REGION_SHARE`` of the parts may keep growing for this many
rounds: interior-point time grows much faster than linearly with the size on solid models, so
such rounds together still cost less than the whole program (regions of a few hundred parts
take tenths of a second where the whole program of a solid model of thousands takes tens of
seconds)."""
ROUGH_WHOLE_SHARE = 1 / 3
"""When the whole program would be solved roughly (see ``witness_from``), a region (or the
hanging parts) over more than this share of the interfaces is replaced by it: the rough solve
stops 3-10x sooner than an exact one, so the whole program costs about what such a region does."""
DOWN_CLOSURE_SHARE = 0.35
"""A region whose parts below it down to the ground number at most this share of the model takes
them in: the program then sets every force under the region, so the greedy pass over the rest
cannot fail on the region's reactions and one round settles it (a cantilever low in a model, such
as a night stand's body over its feet)."""

log = logging.getLogger(__name__)


@dataclass
class RegionSolution:
    """Forces for the whole model: the program's inside the regions, compression outside.

    Attributes:
        stress: (p,) stress of each interface (see ``physics.stability``; 0 where only compression).
        net: (p, 3) load each interface puts on its lower part: force (newtons, negative: a
            pull) and its first moments ``f * x``, ``f * y`` (newton * lattice unit).
        tension_max: largest tension per stud in the programs' solutions, newtons.
        ground_reaction: net upward force of the ground, newtons.
        region: (n,) bool parts the programs solved for.
        exact: True when the stress is the full program's optimum (see the module docstring),
            False when it is an upper bound.
        n_variables: columns of the programs, together.
        n_solves: programs solved.
        lp_time_s: wall time inside the solver, seconds.
        rough: some program's forces came from its rough solve (a witness, or a proof that
            nothing stands; see :func:`~voxforge.bricks.physics.lp.solve_equilibrium`).
        price: (n, 3) each part's support price plane from the program that solved it last
            (:attr:`~voxforge.bricks.physics.lp.LPSolution.price`); zeros outside the programs.
    """

    stress: np.ndarray
    net: np.ndarray
    tension_max: float
    ground_reaction: float
    region: np.ndarray
    exact: bool
    n_variables: int
    n_solves: int
    lp_time_s: float
    rough: bool = False
    price: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))


def down_graph(n: int, iface: Interfaces) -> sparse.csr_matrix:
    """(n, n) bool adjacency upper -> lower of the part-on-part interfaces (ground left out)."""
    on = iface.lower != GROUND
    ones = np.ones(int(on.sum()), dtype=bool)
    return sparse.csr_matrix((ones, (iface.upper[on], iface.lower[on])), shape=(n, n))


def reach(graph: sparse.csr_matrix, seeds: np.ndarray) -> np.ndarray:
    """(n,) bool parts reachable from the ``seeds`` (n,) bool mask along ``graph``, seeds included."""
    n = graph.shape[0]
    src = np.flatnonzero(seeds)
    if len(src) == 0:
        return np.zeros(n, dtype=bool)
    g = graph.tocoo()
    rows = np.concatenate([g.row, np.full(len(src), n)])
    cols = np.concatenate([g.col, src])
    ones = np.ones(len(rows), dtype=bool)
    aug = sparse.csr_matrix((ones, (rows, cols)), shape=(n + 1, n + 1))
    order = csgraph.breadth_first_order(aug, n, directed=True, return_predecessors=False)
    out = np.zeros(n + 1, dtype=bool)
    out[order] = True
    return out[:n]


def grow(graph: sparse.csr_matrix, mask: np.ndarray, hops: int) -> np.ndarray:
    """(n,) bool ``mask`` plus every part within ``hops`` interfaces of it, up or down."""
    both = (graph + graph.T).astype(np.int8).tocsr()
    out = mask.copy()
    for _ in range(hops):
        out |= both @ out.astype(np.int8) > 0
    return out


def convex_hull(graph: sparse.csr_matrix, mask: np.ndarray) -> np.ndarray:
    """(n,) bool ``mask`` plus every part on a downward path between two of its parts."""
    return reach(graph, mask) & reach(graph.T.tocsr(), mask)


@dataclass
class _Program:
    """One solved program: its solution over the interfaces ``use`` (q,) of the parts ``region``."""

    sol: LPSolution
    use: np.ndarray
    region: np.ndarray

    def rows(self, keep: np.ndarray) -> _Program:
        """The same program restricted to the interfaces ``keep`` (q,) bool (bookkeeping only)."""
        s = self.sol
        sub = LPSolution(
            s.tension[keep],
            s.stud_force[keep],
            s.compression[keep],
            s.exceed[keep],
            s.net[keep],
            s.tau,
            s.n_variables,
            s.n_rows,
            s.status,
            s.solve_time_s,
            s.price,
        )
        return _Program(sub, self.use[keep], self.region)


@dataclass
class _Forces:
    """What a set of programs fixed, for the compression pass and the report."""

    extra: np.ndarray  # (n, 3) downward loads the programs put on parts outside them
    blocked: np.ndarray  # (p,) bool interfaces whose forces a program set
    stress: np.ndarray  # (p,) interface stress (0 elsewhere)
    net: np.ndarray  # (p, 3) load on the lower part of the interfaces the programs set
    tension_max: float
    ground: float  # upward force of the ground through the programs' interfaces
    n_variables: int
    lp_time: float
    exact: bool  # every program's forces are its optimum (no rough solve's witness)


def _collect(programs: list[_Program], n: int, iface: Interfaces, capacity: float) -> _Forces:
    """Sum up the loads, blocked interfaces and stresses of ``programs``."""
    p = len(iface)
    out = _Forces(
        np.zeros((n, 3)), np.zeros(p, dtype=bool), np.zeros(p), np.zeros((p, 3)), 0.0, 0.0, 0, 0.0, True
    )
    for prog in programs:
        sol, use = prog.sol, prog.use
        out.extra += _reactions(n, iface, use, prog.region, sol)
        out.blocked[use] = True
        out.net[use] = sol.net
        out.stress[use] = interface_stress(sol.tension, iface.n_studs[use] > 0, capacity)
        out.tension_max = max(out.tension_max, float(sol.tension.max(initial=0.0)))
        out.ground += float(sol.net[iface.lower[use] == GROUND, 0].sum())
        out.n_variables += sol.n_variables
        out.lp_time += sol.solve_time_s
        out.exact &= sol.exact
    return out


def solve_by_regions(
    com: np.ndarray,
    weight: np.ndarray,
    tops: np.ndarray,
    iface: Interfaces,
    stud_capacity: float,
    deadline: float,
    pitch: np.ndarray,
    failed: np.ndarray,
    grow_hops: int = 1,
    friction_pass: bool = False,
    extra: np.ndarray | None = None,
    witness_from: int | None = None,
) -> RegionSolution:
    """Minimax-tension forces for the whole model, solving the program only near ``failed``.

    Args:
        com, weight, tops, iface: the supported parts, as for
            :func:`~voxforge.bricks.physics.compression.compression_pass`.
        stud_capacity: tension one stud holds, newtons.
        deadline: ``time.perf_counter()`` value by which every solve must end.
        pitch: (3,) metres per lattice cell.
        failed: (n,) bool parts the compression pass could not carry (all True: one program
            over the whole model).
        grow_hops: interface hops the cantilever region reaches beyond the parts that need it.
        friction_pass: let the greedy pass outside the programs hold loads by stud friction
            too (:func:`~voxforge.bricks.physics.compression.compression_pass` with
            ``stud_capacity``); its stresses are upper bounds, so the answer is then exact only
            where the pass needed no tension.
        extra: (n, 3) further downward load on each part (force and first moments, as
            :func:`~voxforge.bricks.physics.compression.compression_pass` takes it): forces from
            parts outside the problem, held fixed.
        witness_from: the whole program (the last resort, or ``failed`` all True), when over
            this many interfaces, is solved roughly first
            (:func:`~voxforge.bricks.physics.lp.solve_equilibrium`); its witness makes the
            answer an upper bound. None: exactly.

    Raises:
        SolveError: a solve ran past ``deadline`` or HiGHS failed.
    """
    n = len(weight)
    load = np.zeros((n, 3)) if extra is None else np.asarray(extra, dtype=np.float64)
    ctx = _Context(
        com, weight, tops, iface, stud_capacity, deadline, pitch, load, friction_pass, witness_from
    )
    if failed.all():  # the reference: one program over everything
        return ctx.whole(0)
    hanging = ~reach(down_graph(n, iface).T.tocsr(), _on_ground(n, iface))
    if hanging.sum() > FULL_SHARE * n:  # the hanging stage alone would cost about the whole
        return ctx.whole(0)
    stage1: list[_Program] = []
    if hanging.any():  # exact lower bound: the hanging parts alone, ceilings fixed
        use = np.flatnonzero((iface.lower != GROUND) & hanging[np.maximum(iface.lower, 0)])
        if ctx.prefers_whole(use):
            return ctx.whole(0)
        stage1.append(ctx.solve(hanging, use, np.zeros((n, 3))))
    fixed = _collect(stage1, n, iface, stud_capacity)
    check = ctx.carry(~hanging, fixed.extra, fixed.blocked)
    if not check.failed.any():
        return ctx.finish(stage1, hanging, True, len(stage1))
    bound = float(fixed.stress.max(initial=0.0))
    return _cantilevers(ctx, stage1, hanging, check.failed, bound, grow_hops)


def _on_ground(n: int, iface: Interfaces) -> np.ndarray:
    """(n,) bool parts standing directly on the ground."""
    out = np.zeros(n, dtype=bool)
    out[iface.upper[iface.lower == GROUND]] = True
    return out


@dataclass
class _Context:
    """The model's arrays and the solver settings, shared by the stages."""

    com: np.ndarray
    weight: np.ndarray
    tops: np.ndarray
    iface: Interfaces
    capacity: float
    deadline: float
    pitch: np.ndarray
    extra: np.ndarray  # (n, 3) loads from outside the problem, on top of the programs'
    friction_pass: bool = False
    witness_from: int | None = None

    def carry(self, active: np.ndarray, extra: np.ndarray, blocked: np.ndarray) -> CompressionPass:
        """The greedy pass over the ``active`` parts with the programs' forces fixed."""
        cap = self.capacity if self.friction_pass else None
        load = extra + self.extra
        return compression_pass(
            self.com, self.weight, self.tops, self.iface, active, load, blocked, stud_capacity=cap
        )

    def prefers_whole(self, use: np.ndarray) -> bool:
        """Whether a program over the interfaces ``use`` should give way to the whole program:
        it would get the rough solve and ``use`` is over :data:`ROUGH_WHOLE_SHARE` of them."""
        rough = self.witness_from is not None and len(self.iface) >= self.witness_from
        return rough and len(use) > ROUGH_WHOLE_SHARE * len(self.iface)

    def whole(self, n_solves: int) -> RegionSolution:
        """The one program over every part (feasible whenever all are supported; exact unless
        its rough solve settled it), after ``n_solves`` programs tried before it."""
        n = len(self.weight)
        every = np.ones(n, dtype=bool)
        prog = self.solve(every, np.arange(len(self.iface)), np.zeros((n, 3)), rough=True)
        return self.finish([prog], every, True, n_solves + 1)

    def solve(
        self, region: np.ndarray, use: np.ndarray, extra: np.ndarray, rough: bool = False
    ) -> _Program:
        """The program on ``region`` over the interfaces ``use``, with further loads ``extra``;
        ``rough``: a large one may stop at its rough solve's witness (only for the whole
        program: a region's forces are boundary loads for the greedy pass outside it, and
        the pre-tension an interior point spreads everywhere makes that pass fail more)."""
        sol = _solve_region(
            self.com,
            self.weight,
            self.iface,
            region,
            use,
            extra + self.extra,
            self.capacity,
            self.deadline - time.perf_counter(),
            self.pitch,
            self.witness_from if rough else None,
        )
        return _Program(sol, use, region.copy())

    def finish(
        self, programs: list[_Program], region: np.ndarray, exact: bool, n_solves: int
    ) -> RegionSolution:
        """Combine ``programs`` with the compression pass over every other part."""
        n = len(self.weight)
        f = _collect(programs, n, self.iface, self.capacity)
        active = np.ones(n, dtype=bool)
        for prog in programs:
            active &= ~prog.region
        post = self.carry(active, f.extra, f.blocked)
        ground = (self.iface.lower == GROUND) & ~f.blocked
        free = ~f.blocked
        stress = f.stress.copy()
        stress[free] = np.maximum(stress[free], post.stress[free])
        net = f.net.copy()
        net[free] = post.net[free]
        tension = post.max_stress * self.capacity
        price = np.zeros((n, 3))
        for prog in programs:
            price[prog.region] = prog.sol.price
        return RegionSolution(
            stress=stress,
            net=net,
            tension_max=max(f.tension_max, tension),
            ground_reaction=f.ground + float(post.force[ground].sum()),
            region=region,
            exact=exact and f.exact and post.max_stress == 0.0,
            n_variables=f.n_variables,
            n_solves=n_solves,
            lp_time_s=f.lp_time,
            rough=not f.exact,
            price=price,
        )


def _cantilevers(
    ctx: _Context,
    stage1: list[_Program],
    hanging: np.ndarray,
    failed: np.ndarray,
    bound: float,
    grow_hops: int,
) -> RegionSolution:
    """Stage 2 of the module docstring: programs on regions around the ``failed`` parts.

    Separate clusters of failures (a table top's edge and its feet) get separate regions, the
    topmost first: its program's forces are then fixed like the hanging stage's, and the next
    cluster meets them as loads from above.
    """
    iface, n = ctx.iface, len(ctx.weight)
    has_lower = iface.lower != GROUND
    lower0 = np.maximum(iface.lower, 0)
    graph = down_graph(n, iface)
    up = graph.T.tocsr()
    settled_programs: list[_Program] = []
    settled = np.zeros(n, dtype=bool)
    region = _top_cluster(graph, failed, ctx.tops, grow_hops) & ~hanging
    widened, raised, n_solves = False, False, len(stage1)
    rounds = 0
    while True:
        if not widened:
            below = reach(graph, region) & ~hanging & ~settled
            if below.sum() <= DOWN_CLOSURE_SHARE * n:
                # with everything under it, no part below the region meets its reactions later
                region = below
        # a widened region is solved with the hanging parts again, so that nothing is fixed
        hang_in = hanging if widened else np.zeros(n, dtype=bool)
        kept = [s.rows(~hang_in[iface.lower[s.use]]) for s in stage1] + settled_programs
        base = _collect(kept, n, iface, ctx.capacity)
        part = region | hang_in
        size = (part | hanging | settled).sum()
        small = part.sum() <= SMALL_REGION_SHARE * n
        limit = MAX_SMALL_REGION_ROUNDS if small else MAX_REGION_ROUNDS
        if size > FULL_SHARE * n or rounds >= limit or n_solves >= MAX_SOLVES:
            # as dear as the whole (or growing round after round): solve the whole exactly
            return ctx.whole(n_solves)
        outside = ~part & ~hanging & ~settled
        pre = ctx.carry(outside, base.extra, base.blocked)
        into = ~base.blocked & outside[iface.upper] & has_lower & part[lower0]
        load = base.extra.copy()
        np.add.at(load, iface.lower[into], pre.net[into])
        touch = part[iface.upper] | (has_lower & part[lower0])
        use = np.flatnonzero(touch & ~base.blocked & ~into)
        if ctx.prefers_whole(use):
            return ctx.whole(n_solves)
        try:
            prog = ctx.solve(part, use, load)
        except SolveError as err:
            # infeasible with what is fixed around it (a part left resting only on interfaces
            # another program set): the whole program is always feasible
            if err.status == "time limit":
                raise
            log.debug("stability region of %d parts: %s; solving the whole", region.sum(), err)
            return ctx.whole(n_solves + 1)
        n_solves += 1
        rounds += 1
        programs = [*kept, prog]
        fixed = _collect(programs, n, iface, ctx.capacity)
        post = ctx.carry(outside, fixed.extra, fixed.blocked)
        bad = post.failed & outside
        worst = float(fixed.stress[use].max(initial=0.0))
        over = worst > max(bound, 1.0 + STRESS_TOLERANCE)
        if bad.any() and not over:
            near = bad & grow(graph, region, grow_hops + 1)
            if near.any() or widened:  # the region's own reactions: take those parts in
                region = (
                    convex_hull(graph, grow(graph, region | (bad if widened else near), grow_hops))
                    & ~hanging
                )
                if widened:
                    region = reach(up, region) & ~hanging
            else:  # failures elsewhere (further down): keep this program, start another
                settled_programs.append(prog)
                settled |= part
                region = _top_cluster(graph, bad, ctx.tops, grow_hops) & ~hanging & ~settled
                rounds, raised = 0, False
            continue
        if not widened and over:
            log.debug("stability region of %d parts over capacity: widening", region.sum())
            if not raised:  # first let the parts a few levels above share the load
                region = convex_hull(graph, lift(graph, region, RAISE_HOPS)) & ~hanging & ~settled
                raised = True
                continue
            region, widened = reach(up, region | settled) & ~hanging, True
            settled_programs, settled = [], np.zeros(n, dtype=bool)
            continue
        exact = (widened or worst <= bound) and not settled_programs
        return ctx.finish(programs, part | settled | (hanging & ~hang_in), exact, n_solves)


def lift(graph: sparse.csr_matrix, mask: np.ndarray, hops: int) -> np.ndarray:
    """(n,) bool ``mask`` plus the parts up to ``hops`` interfaces above it (``graph``: upper ->
    lower, so a part joins when something it rests on is in the mask)."""
    out = mask.copy()
    step = graph.astype(np.int8)
    for _ in range(hops):
        out |= step @ out.astype(np.int8) > 0
    return out


def _top_cluster(
    graph: sparse.csr_matrix, failed: np.ndarray, tops: np.ndarray, hops: int
) -> np.ndarray:
    """(n,) bool the cluster of ``failed`` parts (those within ``hops`` interfaces of each other)
    that reaches highest, grown by ``hops`` and made convex in ``graph``."""
    grown = grow(graph, failed, hops)
    idx = np.flatnonzero(grown)
    both = (graph + graph.T).tocsr()[idx][:, idx]
    _, label = csgraph.connected_components(both, directed=False)
    seeds = failed[idx]
    top = idx[seeds][np.argmax(tops[idx[seeds]])]
    cluster = np.zeros(len(failed), dtype=bool)
    cluster[idx[label == label[np.searchsorted(idx, top)]]] = True
    return convex_hull(graph, cluster)


def _solve_region(
    com: np.ndarray,
    weight: np.ndarray,
    iface: Interfaces,
    region: np.ndarray,
    use: np.ndarray,
    extra: np.ndarray,
    stud_capacity: float,
    time_left: float,
    pitch: np.ndarray,
    witness_from: int | None = None,
) -> LPSolution:
    """The program on the ``region`` parts over the interfaces ``use`` (q,).

    Each part carries its weight plus ``extra`` (n, 3: downward force and its first moments),
    as one resultant; the end of an interface outside the region becomes ground.
    """
    idx = np.flatnonzero(region)
    new = np.full(len(weight) + 1, GROUND, dtype=np.int64)  # outside parts (and ground) -> GROUND
    new[idx] = np.arange(len(idx))
    load = np.stack([weight, weight * com[:, 0], weight * com[:, 1]], axis=1)[idx] + extra[idx]
    # the resultant about each part's own centre: a force and a couple (a load that does not
    # point down, such as fixed pulls from outside in order.checks' re-solves, has no centre)
    c, f = com[idx], load[:, 0]
    couple = np.stack([load[:, 2] - f * c[:, 1], f * c[:, 0] - load[:, 1]], axis=1)
    local = iface.remapped(new, use)
    return solve_equilibrium(c, f, local, stud_capacity, time_left, pitch, couple, witness_from)


def _reactions(
    n: int, iface: Interfaces, use: np.ndarray, region: np.ndarray, sol: LPSolution
) -> np.ndarray:
    """(n, 3) downward loads (force, first moments) a program puts on parts outside its region.

    ``sol.net`` is the resultant on each interface's upper part; its lower part feels the
    opposite, i.e. ``net`` as a downward load.
    """
    extra = np.zeros((n, 3))
    lower, upper = iface.lower[use], iface.upper[use]
    below = (lower != GROUND) & ~region[np.maximum(lower, 0)]
    np.add.at(extra, lower[below], sol.net[below])
    above = ~region[upper]
    np.add.at(extra, upper[above], -sol.net[above])
    return extra
