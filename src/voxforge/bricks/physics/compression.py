"""Compression-only load paths, top down: the fast part of the stability analysis.

Most of a brick model stands without any stud friction: every part's load (its weight plus what
the parts above press onto it) falls inside the area it rests on. This module builds such a
force distribution greedily, one plate level at a time from the top (vectorised within a level):
each part spreads its load over the interfaces below it, placing the share of every interface at
the same relative position inside that interface's rectangle. That works whenever the load's
centre lies inside the share-weighted average of the rectangles; a part where no share rule
works, that is pulled upward on balance, or that rests on nothing (it hangs from a part above)
*fails*: its load needs tension, and :mod:`voxforge.bricks.physics.decompose` hands it, with the
parts around it, to the linear program.

With ``stud_capacity`` given, a part whose load centre falls outside its supports may also hold
on by stud friction before it counts as failed (a cantilever: the bricks of a table top reaching
past its legs). Each interface then passes its share of the load on at a point outside its
rectangle, which one force pair carries exactly: compression at the point where the line from
the studs' centre through the load point leaves the rectangle, and tension spread evenly over
the studs (their centre). With ``s`` the fraction of that line inside the rectangle, the tension
is ``f (1 - s) / s``; the part holds when every stud's share stays within its capacity. Among
the share rules, each part takes the one with the least stress. The result is again a force
distribution in equilibrium everywhere (a *witness*): every stud's tension is within capacity,
so the model stands, and its largest stress is an upper bound of the least possible one. (Even
tension over a rectangle of studs is what the program's corner-stud model can always express,
so the program agrees.) In one dimension spreading the tension over all studs is also the best
choice: with ``k`` of ``w`` stud columns pulling, the capacity times the lever grows with ``k``.

In that mode loads are also steered: each support's share is weighted by its *support
potential* (how much of what it stands on reaches the ground, bottom up), and parts that failed
are made a poor choice for a few more passes, so loads go round a void instead of onto it.

Only the resultant of the load matters (all forces are vertical and the parts are rigid), so a
load that already includes forces computed elsewhere (the program's reactions on the parts below
its region) is checked the same way. Every distribution built here uses compression only, so it
costs nothing in the program's objective.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from voxforge.bricks.physics.contacts import GROUND, Interfaces

_EPS = 1e-9


@dataclass
class CompressionPass:
    """Outcome of :func:`compression_pass`.

    Attributes:
        failed: (n,) bool active parts whose load cannot be carried in compression.
        force: (p,) float64 newtons each interface presses onto its lower part (0 where the
            upper part is inactive or failed: a failed part's load is passed on approximately,
            area-proportionally, only so that failures further down are still found).
        qx, qy: (p,) float64 lattice point where ``force`` acts (inside the interface
            rectangle, or outside it where the interface holds by stud tension).
        stress: (p,) float64 stud tension per stud / capacity each interface needs (0 where
            compression alone carries it; only with ``stud_capacity``).
        rests: (n,) bool parts with an interface below them in the pass (the others hang).
    """

    failed: np.ndarray
    force: np.ndarray
    qx: np.ndarray
    qy: np.ndarray
    stress: np.ndarray
    rests: np.ndarray

    @property
    def max_stress(self) -> float:
        """Largest interface stress of the distribution (0 when compression carries all)."""
        return float(self.stress.max(initial=0.0))

    @property
    def net(self) -> np.ndarray:
        """(p, 3) load each interface puts on its lower part: force and its first moments
        ``f * x``, ``f * y`` (the form the program's solutions and ``extra`` loads take)."""
        return np.stack([self.force, self.force * self.qx, self.force * self.qy], axis=1)


def compression_pass(
    com: np.ndarray,
    weight: np.ndarray,
    tops: np.ndarray,
    iface: Interfaces,
    active: np.ndarray | None = None,
    extra: np.ndarray | None = None,
    blocked: np.ndarray | None = None,
    stud_capacity: float | np.ndarray | None = None,
) -> CompressionPass:
    """Carry every active part's load down to the ground by compression, greedily, top down.

    Args:
        com: (n, 3) float64 centres of mass, lattice units.
        weight: (n,) float64 newtons (positive).
        tops: (n,) int64 plate level of each part's top face.
        iface: interfaces among the n parts (lower may be :data:`GROUND`).
        active: (n,) bool parts to distribute (default all); interfaces under inactive parts are
            left alone (their forces come from elsewhere, through ``extra``).
        extra: (n, 3) float64 further downward load on each part from outside the pass: force
            (newtons) and its first moments ``f * x``, ``f * y`` (newton * lattice unit).
        blocked: (p,) bool interfaces whose forces are already fixed (they arrive through
            ``extra``); no load is passed down them.
        stud_capacity: tension one stud holds, newtons; when given, loads whose centre lies
            outside the supports may hold by stud tension (see the module docstring). A (p,)
            array gives each interface its own (what is left of it after other loads).

    Returns:
        The failed parts and, per interface, the force passed down and where it acts.
    """
    n = len(weight)
    active = np.ones(n, dtype=bool) if active is None else active
    if stud_capacity is None:
        return _one_pass(com, weight, tops, iface, active, extra, blocked, None, np.ones(n))
    cap = np.broadcast_to(np.asarray(stud_capacity, dtype=np.float64), (len(iface),))
    # Reroute: a part that fails usually carries loads the parts above dumped on it while
    # they could have leant on sturdier neighbours; make those parts a poor choice and retry.
    prefer = support_potential(tops, iface, active, blocked) + POTENTIAL_FLOOR
    for _ in range(REROUTE_ROUNDS):
        out = _one_pass(com, weight, tops, iface, active, extra, blocked, cap, prefer)
        overloaded = out.failed & out.rests
        if not out.failed.any() or not overloaded.any():
            break
        prefer[overloaded] *= REROUTE_FACTOR
    return out


POTENTIAL_FLOOR = 0.05
"""Share weight of a part with no grounded support below it, relative to a fully grounded one."""


def support_potential(
    tops: np.ndarray, iface: Interfaces, active: np.ndarray, blocked: np.ndarray | None
) -> np.ndarray:
    """(n,) how well each part reaches the ground in compression, bottom up: 1 on the ground,
    the contact-area-weighted mean of the parts below otherwise (0 when it rests on nothing).

    A greedy pass that sends loads by contact area alone piles them on parts over a void (the
    underside of a night stand's body beside its feet); weighting by this potential steers them
    toward the columns that stand on something. Parts outside the pass (``active`` False) count
    as grounded: their forces come from elsewhere.
    """
    n = len(tops)
    usable = active[iface.upper]
    if blocked is not None:
        usable &= ~blocked
    pot = np.where(active, 0.0, 1.0)
    sel = np.flatnonzero(usable)
    order = sel[np.argsort(tops[iface.upper[sel]], kind="stable")]
    bounds = np.flatnonzero(np.diff(tops[iface.upper[order]])) + 1
    for j in np.split(order, bounds):
        if not len(j):
            continue
        lower = iface.lower[j]
        below = np.where(lower == GROUND, 1.0, pot[np.maximum(lower, 0)])
        w = iface.n_cells[j].astype(np.float64)
        num, den = np.zeros(n), np.zeros(n)
        np.add.at(num, iface.upper[j], w * below)
        np.add.at(den, iface.upper[j], w)
        top = np.unique(iface.upper[j])
        pot[top] = num[top] / den[top]
    return pot


REROUTE_ROUNDS = 4
"""Passes the friction mode tries, each steering loads away from the parts that failed before."""
REROUTE_FACTOR = 0.05
"""Share weight left to a part that failed in the previous pass (relative to its area)."""


def _one_pass(
    com: np.ndarray,
    weight: np.ndarray,
    tops: np.ndarray,
    iface: Interfaces,
    active: np.ndarray,
    extra: np.ndarray | None,
    blocked: np.ndarray | None,
    stud_capacity: np.ndarray | None,
    prefer: np.ndarray,
) -> CompressionPass:
    """One greedy top-down pass; ``prefer`` (n,) scales the share weight of loads put on each
    part (1 = by contact area); ``stud_capacity`` (p,) per interface, or None: compression only."""
    n, p = len(weight), len(iface)
    load = np.stack([weight, weight * com[:, 0], weight * com[:, 1]], axis=1)
    if extra is not None:
        load = load + extra
    failed = np.zeros(n, dtype=bool)
    usable = active[iface.upper]
    if blocked is not None:
        usable &= ~blocked
    has_below = np.zeros(n, dtype=bool)
    out = CompressionPass(failed, np.zeros(p), np.zeros(p), np.zeros(p), np.zeros(p), has_below)
    held = np.zeros(n, dtype=bool)
    if stud_capacity is not None:
        hang, held = _hang(load, tops, iface, active, usable, stud_capacity, out)
        usable &= ~hang
    has_below[iface.upper[usable]] = True
    failed[active & ~has_below & ~held] = True  # rests on nothing and nothing holds it up
    sel = np.flatnonzero(usable)
    order = sel[np.argsort(-tops[iface.upper[sel]], kind="stable")]
    bounds = np.flatnonzero(np.diff(tops[iface.upper[order]])) + 1
    area = iface.n_cells * np.where(iface.lower == GROUND, 1.0, prefer[np.maximum(iface.lower, 0)])
    rect = iface.rect.astype(np.float64)
    for j in np.split(order, bounds):
        if len(j):
            _pass_level(j, iface, area, rect, weight, load, out, stud_capacity)
    return out


def _hang(
    load: np.ndarray,
    tops: np.ndarray,
    iface: Interfaces,
    active: np.ndarray,
    usable: np.ndarray,
    stud_capacity: np.ndarray,
    out: CompressionPass,
) -> tuple[np.ndarray, np.ndarray]:
    """Hang the parts that rest on nothing from the parts above them, bottom up.

    A hanging part's load (its weight plus what hangs from it) is shared over the interfaces
    above it by their studs, each share acting at its studs' centre ``g`` moved by the offset
    ``d`` of the load's centre from the centre of all those studs (so the resultant is the
    load's): an upward pull carried by tension spread over the studs and, when ``d > 0``,
    compression at the rectangle's far edge (a distance ``D`` from ``g`` on the other side), so
    the tension is ``f (1 + d / D)``. The parts above take the load as their own,
    and one that then rests only on hung parts hangs in turn. Updates ``load`` and ``out`` (force
    negative: a pull) in place; returns the (p,) interfaces used and the (n,) parts held.
    """
    n, p = len(tops), len(iface)
    hang = np.zeros(p, dtype=bool)
    held = np.zeros(n, dtype=bool)
    low = np.maximum(iface.lower, 0)
    up_rows = usable & (iface.lower != GROUND) & active[low]  # interfaces a part could hang by
    has_above = np.zeros(n, dtype=bool)
    has_above[low[up_rows]] = True
    below = np.zeros(n, dtype=np.int64)
    np.add.at(below, iface.upper[usable], 1)
    pending = active & (below == 0) & has_above
    rect = iface.rect.astype(np.float64)
    sr = iface.stud_rect.astype(np.float64)
    gx, gy = (sr[:, 0] + sr[:, 1]) / 2, (sr[:, 2] + sr[:, 3]) / 2
    while pending.any():
        t = tops[pending].min()
        level = pending & (tops == t)
        pending &= ~level
        rows = np.flatnonzero(up_rows & level[low])
        parts = low[rows]
        f = load[parts, 0]
        fs = np.where(f > _EPS, f, 1.0)
        qx, qy = load[parts, 1] / fs, load[parts, 2] / fs
        studs = iface.n_studs[rows].astype(np.float64)
        total = np.bincount(parts, studs, minlength=n)[parts]
        safe = np.where(total > 0, total, 1.0)
        share = f * studs / safe
        # each share acts at its studs' centre moved by the load's offset from the centre of
        # all the part's studs: the resultant stays at the load, the lever is that offset
        cx = np.bincount(parts, studs * gx[rows], minlength=n)[parts] / safe
        cy = np.bincount(parts, studs * gy[rows], minlength=n)[parts] / safe
        dx, dy = cx - qx, cy - qy
        qx, qy = gx[rows] - dx, gy[rows] - dy
        # d / D: the far edge lies D = t d from g along the offset (t = inf when there is none)
        with np.errstate(divide="ignore", invalid="ignore"):
            lever = 1.0 / _ray_exit(gx[rows], gy[rows], dx, dy, rect[rows])
            stress = share * (1.0 + lever) / np.maximum(studs, 1.0) / stud_capacity[rows]
        # an unloaded part hangs by nothing (the increment of order.checks weighs new parts only)
        good = ((total > 0) | (f <= _EPS)) & np.isfinite(stress) & (stress <= 1.0) & (f >= -_EPS)
        ok = np.bincount(parts, ~good, minlength=n) == 0
        take = ok[parts]
        r = rows[take]
        if not len(r):
            continue
        held[parts[take]] = True
        hang[r] = True
        out.force[r], out.stress[r] = -share[take], stress[take]
        out.qx[r], out.qy[r] = qx[take], qy[take]
        fr = share[take]
        uppers = iface.upper[r]
        np.add.at(load, uppers, np.stack([fr, fr * qx[take], fr * qy[take]], axis=1))
        # a part above whose every support is now hung from it hangs in turn
        np.add.at(below, uppers, -1)
        touched = np.zeros(n, dtype=bool)
        touched[uppers] = True
        pending |= touched & (below == 0) & active & has_above & ~held
    return hang, held


def _pass_level(
    j: np.ndarray,
    iface: Interfaces,
    area: np.ndarray,
    rect: np.ndarray,
    weight: np.ndarray,
    load: np.ndarray,
    out: CompressionPass,
    stud_capacity: np.ndarray | None = None,
) -> None:
    """Distribute the loads of the upper parts of interfaces ``j`` (one top level) downward.

    Updates ``load`` of the lower parts and ``out`` in place.
    """
    parts, u = np.unique(iface.upper[j], return_inverse=True)
    k = len(parts)
    f = load[parts, 0]
    # net upward or no load: compression cannot hold it; but a weightless part that nothing
    # loads (the increment of order.checks weighs new parts only) needs no force at all
    idle = (weight[parts] == 0.0) & (np.abs(load[parts]).max(axis=1) <= _EPS * _EPS)
    pulled = (f <= _EPS * weight[parts]) & ~idle
    fs = np.where(pulled | idle, 1.0, f)
    px, py = (load[parts, 1] / fs)[u], (load[parts, 2] / fs)[u]
    rj = rect[j]
    dist = np.hypot(
        np.maximum(np.maximum(rj[:, 0] - px, px - rj[:, 1]), 0.0),
        np.maximum(np.maximum(rj[:, 2] - py, py - rj[:, 3]), 0.0),
    )
    nearest = np.full(k, np.inf)
    np.minimum.at(nearest, u, dist)
    lvl = _Level(u, k, area[j], dist - nearest[u], rj, px, py)
    share, lx, ly, ok = _first_valid_shares(lvl)
    ok |= idle  # passes nothing on, wherever its (undefined) load point lies
    if stud_capacity is not None and not (ok | pulled).all():
        _tension_shares(lvl, f[u], iface, j, stud_capacity, ok | pulled, (share, lx, ly), ok, out.stress)
    bad = ~ok | pulled
    out.failed[parts[bad]] = True
    fj = np.where(bad[u], 0.0, f[u] * share)
    qx = rj[:, 0] + lx * (rj[:, 1] - rj[:, 0])
    qy = rj[:, 2] + ly * (rj[:, 3] - rj[:, 2])
    out.force[j], out.qx[j], out.qy[j] = fj, qx, qy
    out.stress[j[bad[u]]] = 0.0
    # failed parts still pass their load on (area share, clipped centre) to expose failures below
    fwd = np.where(bad[u] & ~pulled[u], f[u] * share, fj)
    lower = iface.lower[j]
    on = lower != GROUND
    np.add.at(load, lower[on], np.stack([fwd, fwd * qx, fwd * qy], axis=1)[on])


_CANDIDATES = ((1.0, 0.0), (0.0, 0.0), (1.0, 2.0), (1.0, 8.0), (1.0, 32.0))
"""Share rules tried in turn: (use area, distance decay): area-proportional, equal (the lever
rule between two supports), then ever more weight on the supports nearest the load's centre (in
the limit all on the ones containing it)."""


@dataclass
class _Level:
    """The interfaces of one top level, as the share rules see them.

    Attributes:
        u: (m,) each interface's upper part as an index 0..k-1.
        k: parts in the level.
        area: (m,) share weight by area (scaled by the parts' preference).
        excess: (m,) distance of the load centre from the rectangle beyond the nearest one's.
        rect: (m, 4) the interface rectangles.
        px, py: (m,) the load centre of each interface's upper part.
    """

    u: np.ndarray
    k: int
    area: np.ndarray
    excess: np.ndarray
    rect: np.ndarray
    px: np.ndarray
    py: np.ndarray
    _rules: dict[tuple[float, float], tuple[np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False
    )

    def rule(self, use_area: float, decay: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(m,) shares of rule (use_area, decay), summing to 1 per part, and the load centre's
        position relative to the share-weighted average rectangle (0..1 inside it).

        Kept once computed: the friction stage tries the rules the compression stage tried."""
        key = (use_area, decay)
        if key not in self._rules:
            self._rules[key] = self._rule(use_area, decay)
        return self._rules[key]

    def _rule(self, use_area: float, decay: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        u, k, rect = self.u, self.k, self.rect
        raw = (self.area if use_area else np.ones(len(u))) * np.exp(-decay * self.excess)
        s = raw / np.bincount(u, raw, minlength=k)[u]
        avg = [np.bincount(u, s * rect[:, c], minlength=k)[u] for c in range(4)]
        return s, (self.px - avg[0]) / (avg[1] - avg[0]), (self.py - avg[2]) / (avg[3] - avg[2])


def _first_valid_shares(lvl: _Level) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per interface (m,): load share, relative position (lx, ly) in its rectangle, and (k,) ok.

    A rule is valid for a part when the share-weighted average of its rectangles contains the
    load centre; each part takes the first valid rule. Parts without one (``ok`` False) keep
    the area-proportional rule with clipped positions.
    """
    u, k, m = lvl.u, lvl.k, len(lvl.u)
    share, lx, ly = np.zeros(m), np.zeros(m), np.zeros(m)
    done = np.zeros(k, dtype=bool)
    for n_rule, (use_area, decay) in enumerate(_CANDIDATES):
        s, cx, cy = lvl.rule(use_area, decay)
        ok_row = (cx >= -_EPS) & (cx <= 1 + _EPS) & (cy >= -_EPS) & (cy <= 1 + _EPS)
        ok_part = np.bincount(u, ~ok_row, minlength=k) == 0
        take = (ok_part[u] & ~done[u]) | ((n_rule == 0) & ~ok_part[u])
        share[take], lx[take], ly[take] = s[take], np.clip(cx[take], 0, 1), np.clip(cy[take], 0, 1)
        done |= ok_part
        if done.all():
            break
    return share, lx, ly, done


def tension_stress(
    force: np.ndarray,
    qx: np.ndarray,
    qy: np.ndarray,
    rect: np.ndarray,
    stud_rect: np.ndarray,
    n_studs: np.ndarray,
    stud_capacity: float | np.ndarray,
) -> np.ndarray:
    """(m,) stress of carrying ``force`` (m,) newtons at (qx, qy) through each interface.

    Compression where the line from the studs' centre through the point leaves the rectangle,
    tension spread evenly over the studs (see the module docstring); 0 when the point lies in
    the rectangle. An interface without studs cannot pull: its stress is ``1 + t / capacity``
    for a needed tension ``t > 0`` (the convention of the program's report).
    """
    sr = stud_rect.astype(np.float64)
    gx, gy = (sr[:, 0] + sr[:, 1]) / 2, (sr[:, 2] + sr[:, 3]) / 2
    s = _ray_exit(gx, gy, qx - gx, qy - gy, rect.astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        tension = np.where(s >= 1.0, 0.0, force * (1.0 - s) / s)
    per_stud = tension / np.maximum(n_studs, 1) / stud_capacity
    return np.where(n_studs > 0, per_stud, np.where(tension > 0, 1.0 + per_stud, 0.0))


def _ray_exit(
    gx: np.ndarray, gy: np.ndarray, dx: np.ndarray, dy: np.ndarray, rect: np.ndarray
) -> np.ndarray:
    """(m,) the ``t`` at which the ray ``g + t d`` from inside each rectangle (x0, x1, y0, y1)
    leaves it; ``inf`` where ``d`` is zero."""

    def axis(g: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        return np.where(d > _EPS, (hi - g) / d, np.where(d < -_EPS, (lo - g) / d, np.inf))

    with np.errstate(divide="ignore", invalid="ignore"):
        return np.minimum(axis(gx, dx, rect[:, 0], rect[:, 1]), axis(gy, dy, rect[:, 2], rect[:, 3]))


def _tension_shares(
    lvl: _Level,
    fu: np.ndarray,
    iface: Interfaces,
    j: np.ndarray,
    stud_capacity: np.ndarray,
    done: np.ndarray,
    chosen: tuple[np.ndarray, np.ndarray, np.ndarray],
    ok: np.ndarray,
    stress: np.ndarray,
) -> None:
    """For the parts not yet ``done`` (k,), the share rule with the least stud stress.

    ``fu`` (m,) is the load of each interface's upper part. Where the least stress is within
    capacity, updates ``chosen`` (share, lx, ly; positions unclipped: the load point may leave
    the rectangle), ``ok`` and the ``stress`` of the interfaces ``j`` in place; other parts keep
    what they had (they fail).
    """
    u, k, rect = lvl.u, lvl.k, lvl.rect
    best = np.full(k, np.inf)
    pick = [np.zeros(len(u)) for _ in range(4)]  # share, cx, cy, stress of the best rule
    studs = (iface.stud_rect[j], iface.n_studs[j])
    for use_area, decay in _CANDIDATES:
        s, cx, cy = lvl.rule(use_area, decay)
        qx = rect[:, 0] + cx * (rect[:, 1] - rect[:, 0])
        qy = rect[:, 2] + cy * (rect[:, 3] - rect[:, 2])
        st = tension_stress(fu * s, qx, qy, rect, *studs, stud_capacity[j])
        worst = np.zeros(k)
        np.maximum.at(worst, u, st)
        better = (worst < best)[u]
        for dst, src in zip(pick, (s, cx, cy, st), strict=True):
            dst[better] = src[better]
        best = np.minimum(best, worst)
    held = ~done & (best <= 1.0)
    take = held[u]
    for dst, src in zip(chosen, pick[:3], strict=True):
        dst[take] = src[take]
    stress[j[take]] = pick[3][take]
    ok |= held


def compression_only_path(
    com: np.ndarray, weight: np.ndarray, tops: np.ndarray, iface: Interfaces
) -> bool:
    """True when the greedy top-down distribution carries every load by compression alone.

    Passing is a proof of stability with no tension anywhere; failing proves nothing.
    Arguments as for :func:`compression_pass`.
    """
    return not compression_pass(com, weight, tops, iface).failed.any()
