"""Checks of a build order, independent of how it was made: every prefix connected, every part
pressed on from above, every prefix standing.

The stability of a prefix is decided as :func:`~voxforge.bricks.physics.stability.analyze_stability`
would decide it on the prefix alone, at a fraction of the cost. Contacts are pairwise, so the
interfaces of a prefix are the whole model's interfaces between parts of the prefix (and the
ground): they are built once. :class:`PrefixStability` runs the greedy pass
(:mod:`voxforge.bricks.physics.compression`, compression and, from ``exact_below`` parts on, stud
friction) on that subset, with the parts renumbered in their original order exactly as the prefix
model would number them. When the pass carries every load, ``analyze_stability`` on the prefix would
stop at the same pass with verdict ``STABLE``, so nothing is skipped that could change the answer;
only when it fails is the full analysis (the linear program) run on the prefix model itself.
``tests/bricks/order/test_planner.py`` checks the agreement on every prefix of seeded models.

Between checks the build only grows, and forces superpose: when prefix ``P`` is proven to stand
(some force distribution ``W`` within capacity exists) and the weight of the parts ``S`` added
next can be carried to the ground by compression alone through ``P + S`` (the pass run with only
the new weights, over the new parts and everything below them), then ``W`` plus that compression
is a distribution for ``P + S``: equilibrium holds by linearity, ``W``'s tensions are unchanged,
and added compression never uses stud capacity. So ``P + S`` stands, and the program, which finds
a distribution within capacity whenever one exists, would say ``STABLE`` too. Where ``W``'s
interface stresses are known (from the greedy pass that proved ``P``, or from the full
analysis' per-interface stresses), the increment may also hold by stud friction, each
interface limited to the capacity ``W`` leaves free: tensions on the same studs add up, so the
sum stays within capacity. This increment proves most steps after a cantilever or a hanging
part appears, where the whole-prefix pass fails.

Increments pile tension onto the same studs (each takes what the last one left), so sooner or
later one fails on a joint the whole prefix would still hold by spreading its load. The checker
therefore keeps the whole proven distribution ``W`` (forces and moments per interface, not just
stresses) and *re-solves* it locally: a set ``R`` closed downward (every part under a part of
``R`` is in it) meets the rest of the prefix only through the loads parts outside put on it, so
those loads held fixed, any distribution holding ``R`` completes ``W`` to one of the whole
prefix. ``R`` is first what lies under the parts the increment failed on (the rest of the
increment carried down to it greedily), then what lies under all the new parts, widened once
upward around an overloaded joint; one program over ``R`` each time. The full analysis runs only
where none of this works, and then first with every stud weakened to :data:`PROOF_SLACK` of its
capacity, so that the distribution it proves leaves the increments after it room on every stud.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse

from voxforge.bricks.order.graph import OrderGraph
from voxforge.bricks.physics.compression import CompressionPass, compression_pass
from voxforge.bricks.physics.contacts import (
    GROUND,
    centres_of_mass,
    interfaces,
    part_masses,
    vertical_contacts,
)
from voxforge.bricks.physics.decompose import (
    RAISE_HOPS,
    STRESS_TOLERANCE,
    down_graph,
    lift,
    reach,
    solve_by_regions,
)
from voxforge.bricks.physics.lp import SolveError
from voxforge.bricks.physics.report import StabilityReport, Verdict
from voxforge.bricks.physics.stability import PhysicsConfig, analyze_stability
from voxforge.core.brickmodel import BrickModel

PROOF_SLACK = 0.75
"""Share of the stud capacity a prefix's full analysis first tries to stand with (see
:meth:`PrefixStability._verdict`)."""


def sub_model(model: BrickModel, keep: np.ndarray, dz: int = 0) -> BrickModel:
    """The parts ``keep`` (n,) bool, in their original order, lowered by ``dz`` plates."""
    idx = np.flatnonzero(keep)
    ps = [model.placements[i] for i in idx]
    if dz:
        ps = [replace(p, z=p.z - dz) for p in ps]
    nx, ny, nz = model.shape
    return BrickModel(ps, (nx, ny, nz - dz), model.pitch.copy(), model.origin.copy())


@dataclass
class PrefixStability:
    """Stability verdicts of prefixes (sub-sets) of one model, compression pass first.

    Attributes:
        model: the whole model (ground at z = 0).
        config: physics settings; with ``precheck`` False every prefix gets the full analysis.
        budget: parts the stability programs (full analyses and local re-solves) may hold,
            summed over the programs; past it a prefix whose compression pass fails is left
            unchecked (verdict ``None``). A count, not seconds, so that the same model gets the
            same verdicts on a fast or a busy machine.
        time_cap_s: seconds the programs may take together: a safety cap that stops a run far
            slower than the budget implies (``time_limited`` then says so).
        n_fast, n_incremental, n_full: prefixes decided by the compression pass over the whole
            prefix, by the increment over the last proven prefix, and by the full analysis.
        n_resolved: increments (counted in ``n_incremental``) proven by solving the forces
            under the new parts again (:meth:`_resolve`).
        full_s: seconds spent in programs (full analyses and re-solves).
        work: parts held by the programs run so far, summed (what ``budget`` bounds).
    """

    model: BrickModel
    config: PhysicsConfig
    budget: int = 80_000
    time_cap_s: float = 180.0
    n_fast: int = 0
    n_incremental: int = 0
    n_full: int = 0
    n_resolved: int = 0
    full_s: float = 0.0
    work: int = 0
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        m = self.model
        a = m.arrays()
        vc = vertical_contacts(m, m.label_grid())
        self._iface = interfaces(len(m), vc)
        self._weight = part_masses(m) * self.config.gravity
        self._com = centres_of_mass(a)
        self._tops = a["z"] + a["h"]
        self._proven: np.ndarray | None = None
        self._near_capacity = False  # the last full analysis needed more than PROOF_SLACK
        # interfaces by (upper, lower) key, to read the full analysis' per-interface stresses
        key = self._key(self._iface.upper, self._iface.lower)
        self._key_order = np.argsort(key)
        self._keys = key[self._key_order]
        # the forces that proved the last proven prefix (None: unknown)
        self._loads: _Loads | None = None

    @property
    def exhausted(self) -> bool:
        """The budget is spent and the last prefix was not proven: the increment has nothing to
        build on and only the (cheap, but rarely successful there) whole-prefix pass is left."""
        return self._proven is None and self._spent()

    @property
    def time_limited(self) -> bool:
        """The time cap, not the work budget, stopped the programs (the result depends on the
        machine's speed)."""
        return self.full_s >= self.time_cap_s and self.work < self.budget

    def _spent(self) -> bool:
        return self.work >= self.budget or self.full_s >= self.time_cap_s

    def _seconds_left(self) -> float:
        return 0.0 if self._spent() else self.time_cap_s - self.full_s

    def _rows(self, keep: np.ndarray) -> np.ndarray:
        """(p,) bool interfaces inside the prefix ``keep`` (the ground always is)."""
        iface = self._iface
        lower_in = np.where(iface.lower == GROUND, True, keep[np.maximum(iface.lower, 0)])
        return keep[iface.upper] & lower_in

    def _increment(self, keep: np.ndarray, new: np.ndarray) -> tuple[bool, _Loads | None]:
        """Whether the last proven prefix's distribution plus a greedy pass carrying the ``new``
        parts' weight holds ``keep`` (False too when ``keep`` is not that prefix plus ``new``),
        and the sum's forces (None when the proven ones are unknown).

        The pass may use stud friction where the proven distribution's stresses are known: each
        interface gets the capacity that distribution leaves free (tensions on the same studs add
        up, so the sum stays within capacity). Where it fails, the distribution is solved again
        under the parts it failed on (the pass carrying the rest down to them), then, if that
        fails too, under all the new parts (:meth:`_resolve`).
        """
        if self._proven is None or not np.array_equal(self._proven | new, keep):
            return False, None
        iface = self._iface
        rows = self._rows(keep)
        n = len(keep)
        sub = iface.remapped(np.r_[np.arange(n), GROUND], rows)  # same numbering, rows only
        down = down_graph(n, sub)
        active = reach(down, new)
        weight = np.where(new, self._weight, 0.0)
        known = self._loads
        cap = None
        if known is not None and self.config.friction_pass:
            free = np.clip(1.0 - known.stress[rows], 0.0, 1.0)
            cap = self.config.stud_capacity_n * np.maximum(free, 1e-12)
        out = compression_pass(self._com, weight, self._tops, sub, active, stud_capacity=cap)
        if not out.failed.any():
            if known is None:
                return True, None
            return True, self._add(known, rows, out, None if cap is None else free)
        if known is None:
            return False, None
        # a weak joint low down (increments pile tension onto it): solve under it alone
        under = reach(down, out.failed)
        if not under.all():
            rest = compression_pass(
                self._com, weight, self._tops, sub, active & ~under, stud_capacity=cap
            )
            if not rest.failed.any():
                fixed = self._add(known, rows, rest, None if cap is None else free)
                held, loads = self._resolve(keep, down, under, fixed)
                if held:
                    return held, loads
        return self._resolve(keep, down, active, known)

    @staticmethod
    def _add(known: _Loads, rows: np.ndarray, out: CompressionPass, free: np.ndarray | None) -> _Loads:
        """``known`` plus the greedy pass ``out`` over the interfaces ``rows`` (its stresses
        relative to the ``free`` share of each capacity; None: compression only)."""
        added = known.copy()
        if free is not None:
            added.stress[rows] += out.stress * free
        added.net[rows] += out.net
        return added

    def _resolve(
        self,
        keep: np.ndarray,
        down: sparse.csr_matrix,
        below: np.ndarray,
        known: _Loads,
    ) -> tuple[bool, _Loads | None]:
        """Solve the forces again under some parts, the ``known`` distribution fixed elsewhere.

        ``below`` (n,) bool are some parts and everything under them (``down``: the prefix's
        upper -> lower graph): no part outside rests on one inside, so the parts outside meet
        only the forces ``known`` gives them (the loads that parts outside put on parts inside
        are held fixed), and whatever distribution holds the parts inside, with those loads,
        completes ``known`` to a distribution of the whole prefix (``known`` must hold every
        part outside; the new parts are inside or carried by ``known`` already). It may move
        the proven forces inside as well, which the increment cannot: where increments have
        piled tension onto the same studs, this spreads it again. When it fails, the parts up to
        :data:`RAISE_HOPS` interfaces above the overloaded ones join (with everything under
        them) and it runs once more: loads fixed from above are what usually overload it.
        Seconds count against the budget.
        """
        for attempt in range(2):
            out, over = self._solve_under(keep, below, known)
            if out is not None or over is None or attempt:
                break
            below = reach(down, lift(down, over, RAISE_HOPS) | below)
        if out is None:
            return False, None
        self.n_resolved += 1
        return True, out

    def _solve_under(
        self, keep: np.ndarray, below: np.ndarray, known: _Loads
    ) -> tuple[_Loads | None, np.ndarray | None]:
        """One program of :meth:`_resolve` over the parts ``below`` (one program over them all
        proves more steps in the same time than programs around each of the greedy pass's
        failures): the distribution, or None and the (n,) bool parts
        of the overloaded interfaces (None when the solve did not finish)."""
        left = self._seconds_left()
        if left <= 0:
            return None, None
        iface = self._iface
        rows = self._rows(keep)
        has_lower = iface.lower != GROUND
        lower = np.maximum(iface.lower, 0)
        inside = rows & below[iface.upper] & (~has_lower | below[lower])
        into = rows & ~below[iface.upper] & has_lower & below[lower]
        extra = np.zeros((len(keep), 3))
        np.add.at(extra, lower[into], known.net[into])
        t0 = time.perf_counter()
        try:
            sol = solve_by_regions(
                self._com[below],
                self._weight[below],
                self._tops[below],
                iface.among(below, inside),
                self.config.stud_capacity_n,
                t0 + min(self.config.time_limit_s, left),
                self.model.pitch,
                np.ones(int(below.sum()), dtype=bool),  # one program over them all
                grow_hops=self.config.grow_hops,
                friction_pass=True,
                extra=extra[below],
            )
        except SolveError:
            return None, None
        finally:
            self.full_s += time.perf_counter() - t0
            self.work += int(below.sum())
        bad = sol.stress > 1.0 + STRESS_TOLERANCE
        if bad.any():
            over = np.zeros(len(keep), dtype=bool)
            rows_in = np.flatnonzero(inside)[bad]
            over[iface.upper[rows_in]] = True
            over[lower[rows_in][has_lower[rows_in]]] = True
            return None, over
        out = known.copy()
        out.stress[inside] = sol.stress
        out.net[inside] = sol.net
        return out, None

    def _fast(self, keep: np.ndarray) -> _Loads | None:
        """The forces of the greedy pass over the prefix ``keep`` (n,) bool (with stud friction
        where ``analyze_stability`` would use it: the same pass it starts with), or None when it
        fails.

        The prefix must be supported (every part on a chain of contacts to the ground), as a
        connected prefix is.
        """
        rows = self._rows(keep)
        sub = self._iface.among(keep, rows)
        cap = self.config.pass_capacity(int(keep.sum()))
        out = compression_pass(
            self._com[keep], self._weight[keep], self._tops[keep], sub, stud_capacity=cap
        )
        if out.failed.any():
            return None
        loads = _Loads.zeros(len(self._iface))
        loads.stress[rows] = out.stress
        loads.net[rows] = out.net
        return loads

    def verdict(
        self, keep: np.ndarray, new: np.ndarray | None = None, supported: bool = True
    ) -> Verdict | None:
        """The verdict ``analyze_stability`` gives the prefix ``keep`` (n,) bool.

        ``new`` (n,) bool are the parts added since the previous call; ``None`` past the budget.
        """
        verdict = self._verdict(keep, new, supported)
        self._proven = keep.copy() if verdict == "STABLE" else None
        if self._proven is None:
            self._loads = None
        return verdict

    def _verdict(self, keep: np.ndarray, new: np.ndarray | None, supported: bool) -> Verdict | None:
        if supported and self.config.precheck:
            held, loads = (False, None) if new is None else self._increment(keep, new)
            if held:
                self.n_incremental += 1
                self._loads = loads
                return "STABLE"
            loads = self._fast(keep)
            if loads is not None:
                self.n_fast += 1
                self._loads = loads
                return "STABLE"
        if self._spent():
            return None
        sub = sub_model(self.model, keep)
        # First with studs weakened to PROOF_SLACK of their capacity: a distribution found so
        # proves the prefix (capacity only ever helps) and leaves every stud that much spare for
        # the increments after it; the program's least-tension optimum at full capacity tends
        # to saturate the cheapest studs, and then the next increment fails right there.
        # Skipped while the last prefix needed more than that: a build that is already near
        # its capacity rarely gets less loaded as it grows, and each try costs a program.
        if not self._near_capacity:
            weak = self.config.friction_capacity_n * PROOF_SLACK
            report = self._analyse(sub, {"friction_capacity_n": weak})
            if report is not None and report.stable:
                self._loads = self._report_loads(keep, report, PROOF_SLACK)
                return report.verdict
        report = self._analyse(sub, {})
        if report is None:
            return None
        self._near_capacity = bool(report.stable and report.max_stress > PROOF_SLACK)
        self._loads = self._report_loads(keep, report, 1.0) if report.stable else None
        return report.verdict

    def _analyse(self, sub: BrickModel, update: dict[str, float]) -> StabilityReport | None:
        """The full analysis of the prefix model ``sub`` with ``update`` to the physics
        settings, within what is left of the budget (None when nothing is)."""
        left = self._seconds_left()
        if left <= 0:
            return None
        t0 = time.perf_counter()
        cfg = self.config.model_copy(
            update={**update, "time_limit_s": min(self.config.time_limit_s, left + 1)}
        )
        report = analyze_stability(sub, cfg)
        self.full_s += time.perf_counter() - t0
        self.work += len(sub)
        self.n_full += 1
        return report

    def _key(self, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
        return upper.astype(np.int64) * (len(self.model) + 1) + (lower.astype(np.int64) + 1)

    def _report_loads(self, keep: np.ndarray, report: StabilityReport, scale: float) -> _Loads | None:
        """The forces of the full analysis of the prefix ``keep`` (its report numbers parts
        within the prefix), stresses relative to the full capacity when that analysis ran with
        ``scale`` of it; None when they are not all known."""
        stress = np.asarray(report.interface_stress, dtype=np.float64) * scale
        net = np.asarray(report.interface_net, dtype=np.float64)
        parts = np.asarray(report.interface_parts, dtype=np.int64)
        if not (np.isfinite(stress).all() and np.isfinite(net).all()):
            return None
        idx = np.flatnonzero(keep)
        upper = idx[parts[:, 0]]
        lower = np.where(parts[:, 1] == GROUND, GROUND, idx[np.maximum(parts[:, 1], 0)])
        key = self._key(upper, lower)
        at = np.searchsorted(self._keys, key)
        found = (at < len(self._keys)) & (self._keys[np.minimum(at, len(self._keys) - 1)] == key)
        if not found.all():  # the prefix has an interface the model lacks: cannot happen
            return None
        loads = _Loads.zeros(len(self._iface))
        loads.stress[self._key_order[at]] = stress
        loads.net[self._key_order[at]] = net
        return loads


@dataclass
class _Loads:
    """A force distribution proven to hold a prefix, per interface of the whole model.

    Attributes:
        stress: (p,) stud tension per stud / capacity (0 outside the prefix).
        net: (p, 3) load on the lower part: force and its first moments (see
            :class:`~voxforge.bricks.physics.decompose.RegionSolution`).
    """

    stress: np.ndarray
    net: np.ndarray

    @classmethod
    def zeros(cls, p: int) -> _Loads:
        return cls(np.zeros(p), np.zeros((p, 3)))

    def copy(self) -> _Loads:
        return _Loads(self.stress.copy(), self.net.copy())


def prefix_connected(g: OrderGraph, rank: np.ndarray, ground: np.ndarray) -> np.ndarray:
    """(k,) bool per prefix ``rank <= r`` (r = 0..k-1): every placed part stud-joined to ``ground``.

    Args:
        g: the model's relations (stud contacts).
        rank: (n,) int64 the prefix (step) each part joins in, ``-1`` for parts not in the build.
        ground: (n,) bool parts standing on the ground (or the table) when placed.
    """
    k = int(rank.max()) + 1 if len(rank) else 0
    parent = np.arange(g.n + 1)  # index g.n is the ground
    size = np.ones(g.n + 1, dtype=np.int64)
    size[g.n] = 0

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return int(i)

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            if rj == g.n or (ri != g.n and size[rj] > size[ri]):
                ri, rj = rj, ri
            parent[rj] = ri
            size[ri] += size[rj]

    inb = (rank[g.stud_lo] >= 0) & (rank[g.stud_hi] >= 0)
    lo, hi = g.stud_lo[inb], g.stud_hi[inb]
    when = np.maximum(rank[lo], rank[hi])
    order = np.argsort(when, kind="stable")
    lo, hi, when = lo[order], hi[order], when[order]
    starts = np.searchsorted(when, np.arange(k + 1))
    placed = np.cumsum(np.bincount(rank[rank >= 0], minlength=k))
    out = np.zeros(k, dtype=bool)
    for r in range(k):
        for i in np.flatnonzero((rank == r) & ground):
            union(g.n, int(i))
        for e in range(starts[r], starts[r + 1]):
            union(int(lo[e]), int(hi[e]))
        out[r] = size[find(g.n)] == placed[r]
    return out


def press_violations(g: OrderGraph, rank: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """(v,) int64 parts placed under a part of another unit that was placed before them.

    ``rank`` (n,) is the placement position of each part (parts of one sub-assembly share it),
    ``unit`` (n,) the unit each part is placed with.
    """
    lo, hi = g.below_lo, g.below_hi
    bad = (unit[lo] != unit[hi]) & (rank[lo] >= rank[hi])
    return np.unique(lo[bad])
