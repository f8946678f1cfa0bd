"""The build order: bottom-up steps of a few parts each, in which every prefix stands.

How the order is made (lattice units, z up; relations from :mod:`voxforge.bricks.order.graph`):

1. *Units.* A part that a chain of upward stud contacts joins to the ground (an *anchored*
   part) can be pressed onto what is built, one at a time. The others hang from parts above
   them (the underside of an overhang): each connected group of them, with the parts they hang
   from, becomes a *sub-assembly*, built separately on the table and attached as one unit:
   upright when every part of it then joins the parts on the table by studs going up, else
   upside down (top face on the table) when that holds more of it; what still hangs is pressed
   on in further phases with the piece turned over (a step view from below), and parts that no
   phase reaches are reported.
   Units that would have to be placed both before and after one another (a cycle of the *below*
   relation between units) are merged (strongly connected components), so the units form a DAG.
   Sizes: a group over ``sub_max_parts`` (150), or one that would leave parts to hold by hand,
   is cut into pieces around the anchored parts it hangs from; a group under
   ``sub_min_parts`` (4) is not built apart but placed whole in a main-model step.
2. *Waves.* Kahn's algorithm over that DAG: each round takes the ready single parts whose bottom
   lies within one brick height (3 plates) of the lowest ready unit, then the ready
   sub-assemblies there. A part sitting on parts that are not built yet simply waits (a bridge
   span over a sub-assembly), and nothing is ever placed under a part already built.
3. *Steps.* Each wave is cut into spatially coherent clusters of about ``target_parts`` by
   region growing over footprint adjacency, seeded in a sweep from the lowest x + y corner;
   small clusters join their nearest neighbour, and consecutive small steps are merged.
4. *Checks* (:mod:`voxforge.bricks.order.checks`): every step prefix is tested for stud
   connection to the ground, press-from-above and (optionally) stability, within a time
   budget for the linear programs; whatever fails is named in ``BuildPlan.info["problems"]``
   with the step and the reason, and prefixes left unchecked in ``info["unchecked_steps"]``.
   Where a prefix does not stand because a sub-assembly went on alone (pieces of one large
   hanging group that only stand together), that sub-assembly is joined to the steps after it
   up to the first prefix that stands again, and the plan is checked again; a join is kept
   only when fewer prefixes fail (:func:`_join_after_unstable`).
5. *Views.* A step whose new parts the default view (from the lattice's -x, -y corner, 30
   degrees up) mostly cannot see gets a ``rotation`` hint: the quarter turn that shows most.
"""

from __future__ import annotations

import heapq
import logging
import math
import time
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, model_validator
from scipy import sparse
from scipy.sparse import csgraph

from voxforge.bricks.order.checks import (
    PrefixStability,
    prefix_connected,
    press_violations,
    sub_model,
)
from voxforge.bricks.order.graph import OrderGraph, order_graph, reach_up
from voxforge.bricks.order.plan import BuildPlan, BuildStep, SubAssembly
from voxforge.bricks.physics.stability import PhysicsConfig, analyze_stability
from voxforge.bricks.verdict import plan_checks
from voxforge.core.brickmodel import BrickModel
from voxforge.core.errors import ConfigError, GeometryError
from voxforge.core.progress import ProgressCallback, null_progress

log = logging.getLogger(__name__)

BAND_PLATES = 3
"""A wave takes the ready parts whose bottom lies less than this many plates above the lowest."""
VIEW_ELEVATION_DEG = 30.0
"""Elevation of the instruction camera above the horizon, degrees."""
DEFAULT_YAW_DEG = 45.0
"""LDraw ``ROTSTEP`` yaw of the default view; hints turn it by quarter turns."""


class OrderConfig(BaseModel, extra="forbid"):
    """Settings of the build-order search.

    Attributes:
        target_parts: parts per step to aim for.
        min_parts, max_parts: bounds a step keeps where the model allows (a layer with fewer
            parts than ``min_parts`` far apart, or a sub-assembly, may fall outside them).
        sub_min_parts: a sub-assembly of fewer parts is not built apart: its parts (a part and
            the one or two it hangs from) go into a main-model step of their own, or the step
            before when it is near and stays within ``max_parts``.
        sub_max_parts: a group of hanging parts larger than this is cut into sub-assemblies
            around the parts they hang from (:func:`plan_units`), of about half this size where
            no cycle of the *below* relation forces them together.
        physics: check that every step prefix stands (the compression pass, then the linear
            program where that fails).
        physics_config: settings of the stability analysis.
        physics_budget: parts the stability programs of prefixes (full analyses and local
            re-solves) may hold, summed over the programs; past it, prefixes the greedy passes
            cannot prove are reported unchecked (``benchmarks/bench_buildorder.py`` counts them).
            A count, so that a model's verdict does not depend on the machine or its load: the
            default takes about 20-45 s of programs on a busy 2-core machine, and the models of
            the verdict benchmark (teapot at 64 studs, the Kinect scene at 32) need under it.
        physics_time_cap_s: a safety cap on the seconds of those programs; a plan it stops says
            so (``info["physics_time_limited"]``).
        view_hints: add ``rotation`` hints to steps the default view cannot see.
        max_joins: times a sub-assembly step whose prefix does not stand may be joined to the
            steps after it (:func:`_join_after_unstable`); 0 keeps the plan as checked.
        join_window: steps after the failing one searched for a prefix that stands again.
    """

    target_parts: int = Field(6, ge=1, le=100)
    min_parts: int = Field(3, ge=1, le=100)
    max_parts: int = Field(10, ge=1, le=200)
    sub_min_parts: int = Field(4, ge=1, le=100)
    sub_max_parts: int = Field(150, ge=2, le=100_000)
    physics: bool = True
    physics_config: PhysicsConfig = Field(default_factory=lambda: PhysicsConfig(time_limit_s=10.0))
    physics_budget: int = Field(80_000, ge=0)
    physics_time_cap_s: float = Field(180.0, ge=0)
    view_hints: bool = True
    max_joins: int = Field(4, ge=0, le=100)
    join_window: int = Field(6, ge=1, le=100)

    @model_validator(mode="after")
    def _bounds(self) -> OrderConfig:
        if not self.min_parts <= self.target_parts <= self.max_parts:
            raise ConfigError(
                f"build order needs min_parts <= target_parts <= max_parts, got {self.min_parts}, "
                f"{self.target_parts}, {self.max_parts}"
            )
        return self


# --------------------------------------------------------------------------------------------------
# units


def plan_units(g: OrderGraph, max_parts: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(unit (n,) int64 unit index of each part, grouped (u,) bool units that are sub-assemblies).

    A part that is not anchored joins, through stud contacts, the other hanging parts it touches
    and the parts it hangs from; then units on a cycle of the *below* relation merge. A group
    larger than ``max_parts`` (the whole underside of a bulging body hangs together through the
    anchored parts it hangs from) is cut instead around those anchored parts
    (:func:`_split_group`); the pieces then join again up to about half ``max_parts`` where
    that closes no cycle (:func:`_join_pieces`). A group that leaves parts to hold by hand
    whichever way up it is built is cut the same way, and its pieces stay apart.
    """
    n = g.n
    anchored = reach_up(g, g.z == 0)
    hang = ~anchored[g.stud_lo]  # a hanging part and what its studs enter (never anchored below)
    lo, hi = g.stud_lo[hang], g.stud_hi[hang]
    m = sparse.coo_matrix((np.ones(len(lo), dtype=bool), (lo, hi)), shape=(n, n))
    _, unit = csgraph.connected_components(m, directed=False)
    unit = unit.astype(np.int64)
    piece_of = np.full(n, -1, dtype=np.int64)  # the large group a piece was cut from
    if max_parts is not None and n:
        sizes = np.bincount(unit)
        nxt = len(sizes)
        for u in np.flatnonzero(sizes > 1):
            members = np.flatnonzero(unit == u)
            if sizes[u] <= max_parts and not _holds_loose_parts(g, members):
                continue
            cut = _split_group(g, members, anchored, lo, hi)
            unit[members] = nxt + cut
            if sizes[u] > max_parts:  # the pieces of a group with loose parts stay apart
                piece_of[members] = u
            nxt += int(cut.max()) + 1
        unit = _relabel(unit)
    unit = _merge_cycles(g, unit)
    if max_parts is not None and (piece_of >= 0).any():
        unit = _merge_cycles(g, _join_pieces(g, unit, piece_of, max(max_parts // 2, 2)))
    sizes = np.bincount(unit)
    return unit, sizes > 1


def _holds_loose_parts(g: OrderGraph, members: np.ndarray) -> bool:
    """Whether the group ``members`` built on the table, upright or upside down, leaves parts that
    no phase reaches (:func:`_table_phases`): parts to hold by hand until the parts above them
    are on. Such a group is cut into pieces around its anchored parts like a large one."""
    keep = np.zeros(g.n, dtype=bool)
    keep[members] = True
    return bool(_table_phases(g, keep, False)[1].any() and _table_phases(g, keep, True)[1].any())


def _unit_dag(g: OrderGraph, unit: np.ndarray) -> sparse.csr_matrix:
    """(u, u) bool: an edge from each unit to the units that lie above one of its parts."""
    n_units = int(unit.max()) + 1 if len(unit) else 0
    ul, uh = unit[g.below_lo], unit[g.below_hi]
    cross = ul != uh
    return sparse.csr_matrix(
        (np.ones(int(cross.sum()), dtype=bool), (ul[cross], uh[cross])), shape=(n_units, n_units)
    )


def _merge_cycles(g: OrderGraph, unit: np.ndarray) -> np.ndarray:
    """Units on a cycle of the *below* relation merged (strongly connected components)."""
    if not len(unit):
        return unit
    _, scc = csgraph.connected_components(_unit_dag(g, unit), directed=True, connection="strong")
    return _relabel(scc[unit])


def _split_group(
    g: OrderGraph, members: np.ndarray, anchored: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """(k,) int64 piece of each of ``members``: one per anchored member, with the hanging parts
    a breadth-first walk over the hanging contacts (``lo`` hangs from ``hi``) reaches from it
    first (the lowest anchored part first on a tie). A part under a part of an earlier piece
    then moves into that piece (the pieces form no cycle), and pieces are split into what holds
    together by studs, each resting on what is built before it (:func:`_rooted_pieces`)."""
    k = len(members)
    local = np.full(g.n, -1, dtype=np.int64)
    local[members] = np.arange(k)
    on = (local[lo] >= 0) & (local[hi] >= 0)
    a, b = local[lo[on]], local[hi[on]]
    adj = sparse.csr_matrix((np.ones(2 * len(a), dtype=bool), (np.r_[a, b], np.r_[b, a])), shape=(k, k))
    roots = np.flatnonzero(anchored[members])
    piece = np.full(k, -1, dtype=np.int64)
    if not len(roots):
        return np.zeros(k, dtype=np.int64)
    order = np.lexsort((g.centre[members[roots]].sum(1), g.z[members[roots]]))
    piece[roots[order]] = np.arange(len(roots))
    frontier = roots[order]
    while len(frontier):
        nxt: list[int] = []
        for i in frontier:
            for j in adj.indices[adj.indptr[i] : adj.indptr[i + 1]]:
                if piece[j] < 0:
                    piece[j] = piece[i]
                    nxt.append(int(j))
        frontier = np.array(nxt, dtype=np.int64)
    lost = piece < 0  # not reached (cannot happen in a connected group): one piece of their own
    piece[lost] = len(roots)
    # A part under a part of an earlier piece joins that piece, so that the pieces can go on in
    # the order of their anchored parts without one waiting for a later one (no cycle).
    inside = (local[g.below_lo] >= 0) & (local[g.below_hi] >= 0)
    blo, bhi = local[g.below_lo[inside]], local[g.below_hi[inside]]
    while (bad := piece[blo] > piece[bhi]).any():
        np.minimum.at(piece, blo[bad], piece[bhi[bad]])
    return _rooted_pieces(g, members, local, piece)


def _rooted_pieces(
    g: OrderGraph, members: np.ndarray, local: np.ndarray, piece: np.ndarray
) -> np.ndarray:
    """Pieces cut into their stud-connected parts, and each part that rests on nothing outside
    it (no stud contact from a part below it that is not in it) joined to a piece it touches:
    every piece then holds together on the table and is pressed onto what is built before it."""
    k = len(members)
    on = (local[g.stud_lo] >= 0) & (local[g.stud_hi] >= 0)
    a, b = local[g.stud_lo[on]], local[g.stud_hi[on]]
    same = piece[a] == piece[b]
    m = sparse.coo_matrix((np.ones(int(same.sum()), dtype=bool), (a[same], b[same])), shape=(k, k))
    _, comp = csgraph.connected_components(m, directed=False)
    comp = comp.astype(np.int64)
    # resting on a part outside the group, or on another piece
    rests = np.zeros(k, dtype=bool)
    outside = (local[g.stud_lo] < 0) & (local[g.stud_hi] >= 0)
    rests[local[g.stud_hi[outside]]] = True
    while True:
        ok = np.bincount(comp) == 0  # a label emptied by a join below needs nothing
        ok[comp[rests]] = True
        cross = comp[a] != comp[b]
        ok[comp[b[cross]]] = True
        if ok.all():
            return _relabel(comp)
        loose = int(np.flatnonzero(~ok)[0])
        touch = (comp[a] == loose) & (comp[b] != loose) | (comp[b] == loose) & (comp[a] != loose)
        if not touch.any():  # touches nothing else in the group: left to the checks
            rests[comp == loose] = True
            continue
        other = np.where(comp[a[touch]] == loose, comp[b[touch]], comp[a[touch]])
        comp[comp == loose] = int(other.min())


def _join_pieces(g: OrderGraph, unit: np.ndarray, piece_of: np.ndarray, target: int) -> np.ndarray:
    """Pieces cut from one group joined, neighbour by neighbour (studs touching), while they stay
    within ``target`` parts and no path of the unit DAG leads from one to the other through a
    third unit (a join along such a path would close a cycle)."""
    unit = unit.copy()
    on = (unit[g.stud_lo] != unit[g.stud_hi]) & (piece_of[g.stud_lo] >= 0)
    on &= piece_of[g.stud_lo] == piece_of[g.stud_hi]
    pairs = np.unique(
        np.sort(np.stack([unit[g.stud_lo[on]], unit[g.stud_hi[on]]], axis=1), axis=1), axis=0
    )
    if not len(pairs):
        return unit
    size = np.bincount(unit)
    zmin = np.full(len(size), np.iinfo(np.int64).max)
    np.minimum.at(zmin, unit, g.z)
    # lowest pairs first, so pieces grow bottom-up as the build does
    pairs = pairs[np.lexsort((pairs[:, 1], np.minimum(zmin[pairs[:, 0]], zmin[pairs[:, 1]])))]
    label = np.arange(len(size))  # union of unit labels, kept as a flat map
    reach: _Reach | None = None
    for u, v in pairs:
        a, b = int(label[u]), int(label[v])
        if a == b or size[a] + size[b] > target:
            continue
        if reach is None:
            reach = _Reach(_unit_dag(g, label[unit]))
        if reach.detour(a, b) or reach.detour(b, a):
            continue
        label[label == b] = a
        size[a] += size[b]
        size[b] = 0
        reach = None
    return _relabel(label[unit])


class _Reach:
    """Reachability in one unit DAG, each node's descendants found once."""

    def __init__(self, dag: sparse.csr_matrix) -> None:
        self.dag = dag.astype(np.float64)  # the dtype csgraph works in: no copy per search
        self.seen: dict[int, np.ndarray] = {}

    def _from(self, s: int) -> np.ndarray:
        if s not in self.seen:
            self.seen[s] = csgraph.breadth_first_order(self.dag, s, return_predecessors=False)
        return self.seen[s]

    def detour(self, a: int, b: int) -> bool:
        """Whether ``b`` is reached from ``a`` other than by the edge ``a -> b`` alone."""
        succ = self.dag.indices[self.dag.indptr[a] : self.dag.indptr[a + 1]]
        return any(s != b and b in self._from(int(s)) for s in succ)


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0.. in order of their first part (deterministic across scipy versions)."""
    _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inv]


# --------------------------------------------------------------------------------------------------
# waves and clusters


def _waves(
    g: OrderGraph, unit: np.ndarray, grouped: np.ndarray, active: np.ndarray | None = None
) -> list[tuple[np.ndarray, bool]]:
    """Kahn rounds over the unit DAG: [(parts in placement order, is a sub-assembly)].

    ``active`` (u,) bool limits the rounds to those units (the edges must stay among them).
    """
    n_units = len(grouped)
    key = np.full(n_units, np.iinfo(np.int64).max)
    np.minimum.at(key, unit, g.z)
    ul, uh = unit[g.below_lo], unit[g.below_hi]
    cross = ul != uh
    pairs = np.unique(ul[cross] * n_units + uh[cross])
    src, dst = pairs // n_units, pairs % n_units
    indeg = np.bincount(dst, minlength=n_units)
    succ_start = np.searchsorted(src, np.arange(n_units + 1))
    members = np.argsort(unit, kind="stable")
    mem_start = np.searchsorted(unit[members], np.arange(n_units + 1))
    start = indeg == 0 if active is None else (indeg == 0) & active
    ready = [(int(key[u]), int(u)) for u in np.flatnonzero(start)]
    heapq.heapify(ready)
    out: list[tuple[np.ndarray, bool]] = []
    while ready:
        zmin = ready[0][0]
        take: list[int] = []
        while ready and ready[0][0] < zmin + BAND_PLATES:
            take.append(heapq.heappop(ready)[1])
        singles = [u for u in take if not grouped[u]]
        if singles:
            out.append((np.array([members[mem_start[u]] for u in singles], dtype=np.int64), False))
        for u in take:
            if grouped[u]:
                out.append((members[mem_start[u] : mem_start[u + 1]], True))
        for u in take:
            for v in dst[succ_start[u] : succ_start[u + 1]]:
                indeg[v] -= 1
                if indeg[v] == 0:
                    heapq.heappush(ready, (int(key[v]), int(v)))
    return out


def _gap(ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """(a, b) Chebyshev gap in studs between footprint rectangles (0 when touching)."""
    gx = np.maximum(ra[:, None, 0] - rb[None, :, 1], rb[None, :, 0] - ra[:, None, 1])
    gy = np.maximum(ra[:, None, 2] - rb[None, :, 3], rb[None, :, 2] - ra[:, None, 3])
    return np.maximum(np.maximum(gx, gy), 0.0)


def cluster_wave(rects: np.ndarray, cfg: OrderConfig) -> list[np.ndarray]:
    """Cut one wave into spatially coherent clusters (indices into ``rects`` (m, 4) x0 x1 y0 y1).

    Region growing over footprint adjacency (gap <= 1 stud) from a sweep-ordered seed, each
    cluster filled to an even share of what is left; clusters below ``min_parts`` then join the
    nearest cluster that stays within ``max_parts``.
    """
    m = len(rects)
    k = max(round(m / cfg.target_parts), math.ceil(m / cfg.max_parts), 1)
    centre = np.stack([rects[:, :2].mean(1), rects[:, 2:].mean(1)], axis=1)
    adj = _gap(rects, rects) <= 1.0
    sweep = np.lexsort((np.arange(m), rects[:, 2], rects[:, 0] + rects[:, 2]))
    free = np.ones(m, dtype=bool)
    clusters: list[list[int]] = []
    for seed in sweep:
        if not free[seed]:
            continue
        left = int(free.sum())
        quota = min(cfg.max_parts, math.ceil(left / max(k - len(clusters), 1)))
        members = [int(seed)]
        free[seed] = False
        near = adj[seed].copy()
        while len(members) < quota:
            cand = np.flatnonzero(near & free)
            if len(cand) == 0:
                break
            c = centre[members].mean(0)
            d = np.hypot(*(centre[cand] - c).T)
            pick = int(cand[np.lexsort((cand, d))[0]])
            members.append(pick)
            free[pick] = False
            near |= adj[pick]
        clusters.append(members)
    return [np.array(c, dtype=np.int64) for c in _merge_small(clusters, centre, cfg)]


def _merge_small(clusters: list[list[int]], centre: np.ndarray, cfg: OrderConfig) -> list[list[int]]:
    """Join clusters under ``min_parts`` to the nearest cluster that stays within ``max_parts``."""
    out = [list(c) for c in clusters]
    while True:
        small = [i for i, c in enumerate(out) if len(c) < cfg.min_parts]
        merged = False
        for i in small:
            ci = centre[out[i]].mean(0)
            best, best_d = -1, np.inf
            for j, c in enumerate(out):
                if j != i and len(c) + len(out[i]) <= cfg.max_parts:
                    d = float(np.hypot(*(centre[c].mean(0) - ci)))
                    if d < best_d:
                        best, best_d = j, d
            if best >= 0:
                a, b = min(i, best), max(i, best)
                out[a] = out[a] + out[b]
                del out[b]
                merged = True
                break
        if not merged:
            return out


def _steps_of_waves(
    g: OrderGraph, waves: list[tuple[np.ndarray, bool]], cfg: OrderConfig
) -> list[tuple[np.ndarray, bool]]:
    """[(parts, is a sub-assembly)] steps: waves clustered, consecutive small steps merged.

    A sub-assembly under ``cfg.sub_min_parts`` parts is not built apart: its parts stay together
    in a main-model step, the step before when that is near and the two stay within
    ``max_parts``, else a step of their own.
    """
    steps: list[tuple[np.ndarray, bool, bool]] = []  # (parts, sub-assembly, kept whole)
    for parts, grouped in waves:
        if grouped:
            steps.append((parts, len(parts) >= cfg.sub_min_parts, True))
            continue
        for c in cluster_wave(g.rect[parts], cfg):
            steps.append((parts[c], False, False))
    merged: list[tuple[np.ndarray, bool]] = []
    for parts, sub, whole in steps:
        if merged and not sub and not merged[-1][1]:
            prev = merged[-1][0]
            small = whole or min(len(prev), len(parts)) < cfg.min_parts
            near = _gap(g.rect[prev], g.rect[parts]).min() <= 2.0
            if small and near and len(prev) + len(parts) <= cfg.max_parts:
                merged[-1] = (np.concatenate([prev, parts]), False)
                continue
        merged.append((parts, sub))
    return merged


# --------------------------------------------------------------------------------------------------
# view hints


def _visible_share(
    model: BrickModel, a: dict[str, np.ndarray], hmap: np.ndarray, parts: np.ndarray, quarter: int
) -> float:
    """Share of the top cells of ``parts`` that the view turned ``quarter`` times can see.

    ``hmap`` (nx, ny) int64 is the top plate level of what is built (0 where empty). The default
    view looks from the lattice's -x, -y corner, ``VIEW_ELEVATION_DEG`` above the horizon; each
    quarter turns the camera counter-clockwise seen from above. ``a`` is ``model.arrays()``.
    """
    xs, ys, ts = [], [], []
    for i in parts:
        gx, gy = np.meshgrid(np.arange(a["sx"][i]), np.arange(a["sy"][i]), indexing="ij")
        xs.append(a["x"][i] + gx.ravel() + 0.5)
        ys.append(a["y"][i] + gy.ravel() + 0.5)
        ts.append(np.full(gx.size, a["z"][i] + a["h"][i], dtype=np.float64))
    x, y, top = np.concatenate(xs), np.concatenate(ys), np.concatenate(ts)
    ang = np.deg2rad(225.0 + 90.0 * quarter)
    dx, dy = np.cos(ang), np.sin(ang)
    plate_mm, stud_mm = model.pitch[2], model.pitch[0]
    rise = math.tan(math.radians(VIEW_ELEVATION_DEG)) * stud_mm / plate_mm  # plates per stud
    t = np.arange(0.5, max(hmap.shape) * 1.5, 0.5)
    px = np.floor(x[:, None] + dx * t[None, :]).astype(np.int64)
    py = np.floor(y[:, None] + dy * t[None, :]).astype(np.int64)
    inside = (px >= 0) & (py >= 0) & (px < hmap.shape[0]) & (py < hmap.shape[1])
    h = np.where(inside, hmap[np.clip(px, 0, hmap.shape[0] - 1), np.clip(py, 0, hmap.shape[1] - 1)], 0)
    blocked = (h > top[:, None] + rise * t[None, :]).any(axis=1)
    return float(1.0 - blocked.mean())


def _view_hints(model: BrickModel, steps: list[np.ndarray]) -> list[tuple[float, float, float] | None]:
    """A rotation hint per step: None, or the quarter turn that shows at least 1/3 more."""
    a = model.arrays()
    hmap = np.zeros(model.shape[:2], dtype=np.int64)
    out: list[tuple[float, float, float] | None] = []
    current = 0
    for parts in steps:
        for i in parts:
            x0, y0 = a["x"][i], a["y"][i]
            region = hmap[x0 : x0 + a["sx"][i], y0 : y0 + a["sy"][i]]
            np.maximum(region, a["z"][i] + a["h"][i], out=region)
        shares = [_visible_share(model, a, hmap, parts, q) for q in range(4)]
        if shares[0] >= 0.5:
            current = 0
        elif shares[current] < max(shares) - 1e-9:
            best = int(np.argmax(shares))
            current = best if shares[best] >= shares[0] + 1.0 / 3.0 else 0
        out.append(None if current == 0 else rotation_of_quarter(current))
    return out


def rotation_of_quarter(quarter: int, upside_down: bool = False) -> tuple[float, float, float]:
    """LDraw ``ROTSTEP ... ABS`` angles of the default view turned ``quarter`` times about the
    vertical (and half a turn about the horizontal view axis when ``upside_down``)."""
    pitch = VIEW_ELEVATION_DEG + (180.0 if upside_down else 0.0)
    return (pitch, (DEFAULT_YAW_DEG + 90.0 * quarter) % 360.0, 0.0)


# --------------------------------------------------------------------------------------------------
# the plan


def _flipped(g: OrderGraph) -> OrderGraph:
    """The relations of the model turned upside down (z' = top of the model - top)."""
    t = int(g.top.max())
    return OrderGraph(
        g.n, t - g.top, t - g.z, g.centre, g.rect, g.below_hi, g.below_lo, g.stud_hi, g.stud_lo
    )


def _table_build(g: OrderGraph, keep: np.ndarray) -> tuple[OrderGraph, np.ndarray, np.ndarray]:
    """(relations among ``keep``, parts on the table, parts no stud chain joins to the table)."""
    sub_g = _restrict(g, keep)
    table = keep & (g.z == g.z[keep].min())
    return sub_g, table, keep & ~reach_up(sub_g, table, within=keep)


def _sub_assembly(
    model: BrickModel, g: OrderGraph, parts: np.ndarray, name: str, cfg: OrderConfig
) -> tuple[SubAssembly, list[dict[str, Any]]]:
    """A sub-assembly of ``parts`` built on the table, and what is wrong with it (problems with
    their ``reason`` and the ``parts`` they name).

    Built upright when every part then joins the parts on the table through stud contacts going
    up; otherwise upside down when that works better (the underside of a flat-topped overhang).
    Parts that hang inside it either way (its underside is not flat: the bottom of a slab
    several plates above the few parts that reach the table) are pressed on in further phases,
    the piece turned over each time, onto the parts they hang from (:func:`_table_phases`);
    those that no phase reaches are pressed onto a part they hold on to before it goes on
    (:func:`_pre_attach`), and only those left then are reported.
    """
    keep = np.zeros(g.n, dtype=bool)
    keep[parts] = True
    options = [(False, *_table_steps(g, keep, False, cfg))]
    if any(options[0][2]) or options[0][3].any():  # else upright in one phase: unbeatable
        options.append((True, *_table_steps(g, keep, True, cfg)))
    # fewest parts left hanging, then fewest turns; upright on a tie
    flip, step_parts, turned, loose = min(
        options, key=lambda o: (int(o[3].sum()), int(np.count_nonzero(np.diff(o[2]))), o[0])
    )
    views = (None, rotation_of_quarter(0, upside_down=True))
    rotations = [views[int(t)] for t in turned]
    steps = [BuildStep(tuple(p), rotation=r) for p, r in zip(step_parts, rotations, strict=True)]
    order = [i for p in step_parts for i in p]
    problems: list[dict[str, Any]] = []
    if loose.any():
        first = model.placements[int(np.flatnonzero(loose)[0])]
        problems.append(
            {
                "reason": f"sub-assembly {name}: {int(loose.sum())} parts hang inside it even "
                f"{'upside down' if flip else 'upright'} (first: part {first.part} at stud "
                f"{first.x}, {first.y}, plate {first.z}); they must be held until the parts "
                "above them are on",
                "parts": [int(i) for i in np.flatnonzero(loose)],
            }
        )
    return SubAssembly(name, tuple(order), tuple(steps), upside_down=flip), problems


def _table_steps(
    g: OrderGraph, keep: np.ndarray, flip: bool, cfg: OrderConfig
) -> tuple[list[list[int]], list[bool], np.ndarray]:
    """([parts of each step], [whether each step builds it turned over], (n,) bool parts left to
    hold by hand) of the sub-assembly ``keep`` built on the table starting upright or (``flip``)
    upside down: the phases of :func:`_table_phases`, each cut into steps, then the parts no phase
    reaches pre-attached (:func:`_pre_attach`); what is still loose (held by hand) goes into the
    first phase where it belongs, the steps are made again, and the pre-attached parts are attached
    to the new steps (those that find no host there are held too), so every part is in one step."""
    phases, loose = _table_phases(g, keep, flip)
    frames = (g, _flipped(g))

    def steps_of(extra: np.ndarray) -> tuple[list[list[int]], list[bool]]:
        step_parts: list[list[int]] = []
        turned: list[bool] = []
        for k, group in enumerate(phases):
            t = (k + flip) % 2
            group = group | extra if k == 0 else group
            waves = _waves(_restrict(frames[t], group), np.arange(g.n), np.zeros(g.n, dtype=bool), group)
            for p, _ in _steps_of_waves(g, waves, cfg):
                step_parts.append([int(i) for i in p])
                turned.append(bool(t))
        return step_parts, turned

    step_parts, turned = steps_of(np.zeros(g.n, dtype=bool))
    if not loose.any():
        return step_parts, turned, loose
    held = _pre_attach(g, step_parts, turned, loose)
    while held.any():
        # The held parts join the first phase, so the steps are made again; the pre-attached
        # parts are attached again to those steps, and any that no longer find a host are held too.
        step_parts, turned = steps_of(held)
        again = _pre_attach(g, step_parts, turned, loose & ~held)
        if not again.any():
            break
        held |= again
    return step_parts, turned, held


def _pre_attach(
    g: OrderGraph, step_parts: list[list[int]], turned: list[bool], loose: np.ndarray
) -> np.ndarray:
    """Parts that no phase reaches put into the step of a part they hold on to; the rest.

    Such a part (a plate under a brick with a part built below it across a gap, so it can be
    pressed on neither from below nor, the piece turned over, from above) is pressed onto that
    part in the builder's hand before the two go on together: it joins the earliest step that
    places a part it shares studs with (``turned``: whether a step builds the piece upside
    down), listed just before that part. A host is taken only when the pair can come down
    there: no part placed in an earlier step lies above the part in that step's frame, and
    none placed later lies below it in its own step's frame. A chain of such parts is attached
    link by link. ``step_parts`` is edited in place; the parts left loose are returned."""
    left = loose.copy()
    step = np.full(g.n, -1, dtype=np.int64)
    for k, parts in enumerate(step_parts):
        step[parts] = k
    flip = np.asarray(turned, dtype=bool)
    a = np.concatenate([g.stud_lo, g.stud_hi])
    b = np.concatenate([g.stud_hi, g.stud_lo])
    while left.any():
        progress = False
        for i in np.flatnonzero(left):
            nb = b[(a == i) & (step[b] >= 0)]
            for host in nb[np.lexsort((nb, step[nb]))]:
                if _can_come_down(g, step, flip, int(i), int(step[host])):
                    parts = step_parts[int(step[host])]
                    parts.insert(parts.index(int(host)), int(i))
                    step[i] = step[host]
                    left[i] = False
                    progress = True
                    break
        if not progress:
            break
    return left


def _can_come_down(g: OrderGraph, step: np.ndarray, flip: np.ndarray, i: int, k: int) -> bool:
    """Whether part ``i`` can go on in step ``k`` with the parts placed in the steps ``step``:
    nothing placed before lies over it in step ``k``'s frame, nothing placed after under it in
    the frame of the step that places it."""
    up = g.below_hi[g.below_lo == i]  # over i in the model's frame
    down = g.below_lo[g.below_hi == i]
    for q, over in ((up, True), (down, False)):
        s = step[q]
        early, late = (s >= 0) & (s < k), s > k
        if (early & (over != flip[k])).any() or (late & (over == flip[np.maximum(s, 0)])).any():
            return False
    return True


MAX_TABLE_PHASES = 8
"""Times a sub-assembly is built on from one side (turned over in between) before the parts still
hanging are reported (the shapes of ``benchmarks/bench_buildorder.py`` use at most 6)."""


def _table_phases(g: OrderGraph, keep: np.ndarray, flip: bool) -> tuple[list[np.ndarray], np.ndarray]:
    """([(n,) bool parts of each phase], (n,) bool loose parts): how the sub-assembly ``keep``
    is built on the table, starting upright or (``flip``) upside down.

    First the parts that a chain of stud contacts going up joins to the parts on the table;
    then, the piece turned over, the hanging parts that join what is built going up in that
    frame, as long as nothing built lies above them there (they are pressed on, not slid in);
    and so on, turning it each time, while a phase adds parts. The parts no phase reaches are
    ``loose``.
    """
    frames = (_flipped(g), g) if flip else (g, _flipped(g))
    _, _, hang = _table_build(frames[0], keep)
    built = keep & ~hang
    phases = [built.copy()]
    while hang.any() and len(phases) < MAX_TABLE_PHASES:
        frame = frames[len(phases) % 2]
        blocked = np.zeros(g.n, dtype=bool)
        covered = hang[frame.below_lo] & built[frame.below_hi]
        blocked[frame.below_lo[covered]] = True
        within = built | (hang & ~blocked)
        add = hang & ~blocked & reach_up(_restrict(frame, within), built, within=within)
        if not add.any():
            break
        phases.append(add)
        built |= add
        hang &= ~add
    return phases, hang


def _restrict(g: OrderGraph, keep: np.ndarray) -> OrderGraph:
    on_b = keep[g.below_lo] & keep[g.below_hi]
    on_s = keep[g.stud_lo] & keep[g.stud_hi]
    return OrderGraph(
        g.n,
        g.z,
        g.top,
        g.centre,
        g.rect,
        g.below_lo[on_b],
        g.below_hi[on_b],
        g.stud_lo[on_s],
        g.stud_hi[on_s],
    )


def _validate_model(model: BrickModel) -> None:
    if len(model) == 0:
        raise GeometryError("brick model has no placements; there is nothing to order")
    a = model.arrays()
    lo = np.stack([a["x"], a["y"], a["z"]], axis=1)
    hi = np.stack([a["x"] + a["sx"], a["y"] + a["sy"], a["z"] + a["h"]], axis=1)
    if (lo < 0).any() or (hi > np.asarray(model.shape)).any():
        raise GeometryError(f"brick model has parts outside its lattice {tuple(model.shape)}")
    if (hi <= lo).any():
        raise GeometryError("brick model has a part with an empty box (size 0 on some axis)")
    overlap = int((a["sx"] * a["sy"] * a["h"]).sum()) - int(model.occupancy().sum())
    if overlap:
        raise GeometryError(f"brick model parts overlap in {overlap} lattice cells; cannot order them")


def plan_build(
    model: BrickModel, config: OrderConfig | None = None, progress: ProgressCallback | None = None
) -> BuildPlan:
    """Order ``model``'s parts into build steps (see the module docstring).

    Returns:
        A plan whose ``info`` holds ``prefixes_connected`` (bool), ``prefixes_stable`` (bool, or
        None when physics is off or some prefix was left unchecked), ``press_from_above``
        (bool), ``physics_checks`` (full analyses run), ``compression_checks``,
        ``incremental_checks`` (of which ``resolved_checks`` needed a local re-solve),
        ``unchecked_steps``, ``sub_assemblies``, ``seconds`` and ``problems`` (one entry per
        failure: ``{"step": 1-based step or None, "reason": ...}``, with ``submodel`` (its
        name) and ``submodel_step`` when it lies inside a sub-assembly).

    Raises:
        GeometryError: an empty model, parts outside the lattice, or overlapping parts.
    """
    cfg = config or OrderConfig()
    report = progress or null_progress
    t0 = time.perf_counter()
    _validate_model(model)
    report("order", 0.0)
    g = order_graph(model)
    unit, grouped = plan_units(g, cfg.sub_max_parts)
    waves = _waves(g, unit, grouped)
    raw = _steps_of_waves(g, waves, cfg)
    report("order", 0.2)

    plan, problems = _assemble(model, g, raw, cfg)
    report("order", 0.3)
    info = _check_plan(model, g, plan, unit, cfg, problems, report)
    if cfg.physics and cfg.max_joins:
        plan, info = _join_unstable(model, g, raw, unit, plan, info, cfg)
    info.setdefault("joined_sub_assemblies", 0)
    if cfg.view_hints:
        info["view_hints"] = "heightmap"  # a renderer may replace them (choose_views)
    info["seconds"] = round(time.perf_counter() - t0, 3)
    report("order", 1.0)
    log.info(
        "build order: %d steps, %d sub-assemblies, %.2f s",
        len(plan.steps),
        len(plan.submodels),
        info["seconds"],
    )
    return BuildPlan(plan.steps, plan.submodels, info)


def _join_unstable(
    model: BrickModel,
    g: OrderGraph,
    raw: list[tuple[np.ndarray, bool]],
    unit: np.ndarray,
    plan: BuildPlan,
    info: dict[str, Any],
    cfg: OrderConfig,
) -> tuple[BuildPlan, dict[str, Any]]:
    """The plan with sub-assembly steps whose prefix does not stand joined to the steps after
    them (:func:`_join_after_unstable`), each join checked again and kept only when the plan
    gets better (:func:`_fewer_unstable`). The searches and checks share what is left of the
    first check's physics budget and time cap, so a model costs no more programs than one check
    may; ``info`` reports the work of all of them."""
    work, seconds = int(info["physics_work"]), float(info["physics_s"])

    def left() -> OrderConfig:  # the settings with what is left of the budget and the cap
        budget = max(cfg.physics_budget - work, 0)
        return cfg.model_copy(
            update={
                "physics_budget": budget,
                "physics_time_cap_s": max(cfg.physics_time_cap_s - seconds, 0.0),
            }
        )

    joins = 0
    for _ in range(cfg.max_joins):
        joined, spent = _join_after_unstable(model, g, raw, info, left())
        work, seconds = work + spent[0], seconds + spent[1]
        if joined is None:
            break
        raw2, piece = joined
        unit2 = unit.copy()
        unit2[piece] = unit[piece].min()  # one unit: the press-from-above check sees one piece
        plan2, problems2 = _assemble(model, g, raw2, cfg)
        info2 = _check_plan(model, g, plan2, unit2, left(), problems2, null_progress)
        work, seconds = work + info2["physics_work"], seconds + info2["physics_s"]
        if not _fewer_unstable(info2, info):
            break
        raw, unit, plan, info = raw2, unit2, plan2, info2
        joins += 1
    info = {**info, "joined_sub_assemblies": joins, "physics_work": work}
    info["physics_s"] = round(seconds, 3)
    return plan, info


def _assemble(
    model: BrickModel, g: OrderGraph, raw: list[tuple[np.ndarray, bool]], cfg: OrderConfig
) -> tuple[BuildPlan, list[dict[str, Any]]]:
    """The plan of the ``raw`` steps [(parts, is a sub-assembly)] (sub-assemblies built on the
    table, view hints added) and the problems of its sub-assemblies."""
    problems: list[dict[str, Any]] = []
    submodels: list[SubAssembly] = []
    steps: list[BuildStep] = []
    for parts, is_sub in raw:
        if is_sub:
            sub, bad = _sub_assembly(model, g, parts, f"sub{len(submodels) + 1}", cfg)
            problems += [{"step": len(steps) + 1, "submodel": sub.name, **b} for b in bad]
            submodels.append(sub)
            steps.append(BuildStep(sub.parts, submodel=len(submodels) - 1))
        else:
            steps.append(BuildStep(tuple(int(i) for i in parts)))
    if cfg.view_hints:
        hints = _view_hints(model, [np.asarray(s.parts) for s in steps])
        steps = [BuildStep(s.parts, s.submodel, h) for s, h in zip(steps, hints, strict=True)]
    plan = BuildPlan(tuple(steps), tuple(submodels))
    plan.validate(g.n)
    return plan, problems


def _fewer_unstable(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Whether the plan checked as ``new`` is better: fewer prefixes that do not stand, none left
    unchecked that were checked, every prefix still connected and pressed from above where it
    was, and no more problems that need a hand."""
    _, new_bad, new_held = plan_checks(new)
    _, old_bad, old_held = plan_checks(old)
    return (
        len(new_bad) < len(old_bad)
        and len(new["unchecked_steps"]) <= len(old["unchecked_steps"])
        and new_held <= old_held
        and new["prefixes_connected"] >= old["prefixes_connected"]
        and new["press_from_above"] >= old["press_from_above"]
    )


def _join_after_unstable(
    model: BrickModel,
    g: OrderGraph,
    raw: list[tuple[np.ndarray, bool]],
    info: dict[str, Any],
    cfg: OrderConfig,
) -> tuple[tuple[list[tuple[np.ndarray, bool]], np.ndarray] | None, tuple[int, float]]:
    """(``raw`` with the first step whose prefix does not stand joined to the steps after it,
    and the (k,) parts of the joined sub-assembly; or None), and the (parts, seconds) of the
    stability programs the search ran.

    Pieces of a large hanging group are attached one after another (:func:`plan_units` cuts
    them), and the first piece alone can hang on too few studs: the prefix with the next piece on
    stands again. The sub-assemblies from the failing step up to the first later prefix that
    stands (at most ``cfg.join_window`` steps on) then become one sub-assembly, with the
    main-model parts of those steps that join them by studs; the other main-model parts of
    those steps go into a step of their own, after the joined piece or before it, whichever the
    *below* relation allows. None when nothing can be joined.
    """
    none: tuple[int, float] = (0, 0.0)
    _, bad, _ = plan_checks(info)
    if not bad or info["unchecked_steps"]:
        return None, none
    i = bad[0] - 1
    if not raw[i][1]:
        return None, none
    step_of = np.full(g.n, -1, dtype=np.int64)
    for k, (parts, _) in enumerate(raw):
        step_of[parts] = k
    j, spent = _next_standing(model, step_of, i, min(i + cfg.join_window, len(raw) - 1), cfg)
    if j is None:
        return None, spent
    window = (step_of >= i) & (step_of <= j)
    subs = np.zeros(g.n, dtype=bool)
    for k in range(i, j + 1):
        if raw[k][1]:
            subs[raw[k][0]] = True
    on = window[g.stud_lo] & window[g.stud_hi]
    studs = (np.ones(int(on.sum()), dtype=bool), (g.stud_lo[on], g.stud_hi[on]))
    _, comp = csgraph.connected_components(sparse.coo_matrix(studs, shape=(g.n, g.n)), directed=False)
    joined = window & np.isin(comp, comp[subs])
    rest = window & ~joined
    if not rest.any():
        middle = [(np.flatnonzero(joined), True)]
    else:
        rest_below = (rest[g.below_lo] & joined[g.below_hi]).any()
        joined_below = (joined[g.below_lo] & rest[g.below_hi]).any()
        if rest_below and joined_below:
            return None, spent
        pair = [(np.flatnonzero(joined), True), (np.flatnonzero(rest), False)]
        middle = pair[::-1] if rest_below else pair
    return (raw[:i] + middle + raw[j + 1 :], np.flatnonzero(joined)), spent


def _next_standing(
    model: BrickModel, step_of: np.ndarray, i: int, last: int, cfg: OrderConfig
) -> tuple[int | None, tuple[int, float]]:
    """The first step after ``i`` (up to ``last``) whose prefix the full analysis finds standing
    (None when none does or the budget runs out first), and the (parts, seconds) analysed."""
    work, seconds = 0, 0.0
    for k in range(i + 1, last + 1):
        keep = (step_of >= 0) & (step_of <= k)
        if work >= cfg.physics_budget or seconds >= cfg.physics_time_cap_s:
            break
        t0 = time.perf_counter()
        stands = analyze_stability(sub_model(model, keep), cfg.physics_config).stable
        work, seconds = work + int(keep.sum()), seconds + time.perf_counter() - t0
        if stands:
            return k, (work, seconds)
    return None, (work, seconds)


def _check_plan(
    model: BrickModel,
    g: OrderGraph,
    plan: BuildPlan,
    unit: np.ndarray,
    cfg: OrderConfig,
    problems: list[dict[str, Any]],
    report: ProgressCallback,
) -> dict[str, Any]:
    """Connectivity, press-from-above and stability of every prefix; problems appended."""
    step_of = plan.step_of(g.n)
    connected = prefix_connected(g, step_of, g.z == 0)
    for i in np.flatnonzero(~connected)[:20]:
        problems.append({"step": int(i) + 1, "reason": "a placed part has no stud path to the ground"})
    rank = _placement_rank(plan, g.n)
    pressed = press_violations(g, rank, unit)
    for i in pressed[:20]:
        problems.append(
            {"step": int(step_of[i]) + 1, "reason": f"part {int(i)} goes under a part already built"}
        )
    for sub in plan.submodels:
        keep = np.zeros(g.n, dtype=bool)
        keep[list(sub.parts)] = True
        sub_rank = np.full(g.n, -1, dtype=np.int64)
        for k, s in enumerate(sub.steps):
            sub_rank[list(s.parts)] = k
        sub_g, table, _ = _table_build(_flipped(g) if sub.upside_down else g, keep)
        ok = prefix_connected(sub_g, sub_rank, table)
        if not ok.all():
            problems.append(
                {
                    "step": int(step_of[sub.parts[0]]) + 1,
                    "submodel": sub.name,
                    "submodel_step": int(np.argmin(ok)) + 1,
                    "reason": f"sub-assembly {sub.name} step {int(np.argmin(ok)) + 1} is not "
                    "held together on the table",
                }
            )
    stable: bool | None = None
    unchecked: list[int] = []
    checker = None
    if cfg.physics:
        checker = PrefixStability(model, cfg.physics_config, cfg.physics_budget, cfg.physics_time_cap_s)
        stable = True
        for i in range(len(plan.steps)):
            if checker.exhausted:  # no proof to build on and no time for the program
                unchecked += range(i + 1, len(plan.steps) + 1)
                break
            keep = (step_of >= 0) & (step_of <= i)
            verdict = checker.verdict(keep, step_of == i, supported=bool(connected[i]))
            if verdict is None or verdict == "UNKNOWN":  # past the budget, or the solver gave up
                unchecked.append(i + 1)
            elif verdict != "STABLE":
                stable = False
                words = PREFIX_WORDS.get(verdict, f"is {verdict}")
                problems.append({"step": i + 1, "reason": f"the build so far {words}"})
            report("order", 0.3 + 0.7 * (i + 1) / len(plan.steps))
        if unchecked and stable:
            stable = None
    return {
        "prefixes_connected": bool(connected.all()),
        "prefixes_stable": stable,
        "press_from_above": len(pressed) == 0,
        "physics_checks": checker.n_full if checker else 0,
        "physics_work": checker.work if checker else 0,
        "physics_s": round(checker.full_s, 3) if checker else 0.0,
        "physics_time_limited": bool(checker and checker.time_limited),
        "compression_checks": checker.n_fast if checker else 0,
        "incremental_checks": checker.n_incremental if checker else 0,
        "resolved_checks": checker.n_resolved if checker else 0,
        "unchecked_steps": unchecked,
        "sub_assemblies": len(plan.submodels),
        "problems": problems,
    }


PREFIX_WORDS = {
    "UNSTABLE": "does not stand on its own: some studs would pull apart (hold it, or change the order)",
    "FLOATING": "has parts with nothing under them yet (hold them until the parts below are on)",
}
"""What a failed prefix check means, in a builder's words (``the build so far ...``)."""


def _placement_rank(plan: BuildPlan, n: int) -> np.ndarray:
    """(n,) int64 position at which each part is placed; a sub-assembly's parts share one."""
    rank = np.full(n, -1, dtype=np.int64)
    pos = 0
    for step in plan.steps:
        if step.submodel is not None:
            rank[list(step.parts)] = pos
            pos += 1
            continue
        for i in step.parts:
            rank[i] = pos
            pos += 1
    return rank
