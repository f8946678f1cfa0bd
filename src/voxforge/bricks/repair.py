"""Repair passes of the layout: bridge components, add supports, re-lay weak regions.

Order of preference, cheapest change to the model first:

1. **Bridge**: two components that touch side by side in some layer are joined by re-laying that
   layer with a cost that rewards parts touching several components above/below and penalises
   outlines on component boundaries (a part then spans the gap). Kept only when it helps.
2. **Support**: a component with no stud path to the ground gets a column of new cells in a neutral
   colour from its lowest overhang down to the nearest grounded part (or the ground); the column is
   laid as 1x1 bricks and plates. New cells are reported (``added``).
3. **Stability**: when a physics callable says the model fails, the weakest parts and their
   neighbours are re-laid with another seed, the other orientation preference and a stronger
   bonding reward; after the last round supports go under the weakest parts that still hang.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxforge.bricks.layout_greedy import LAYOUT_STRATEGIES, LayerWeights
from voxforge.bricks.layout_kernels import BRICK_BIT, PLATE_BIT
from voxforge.bricks.layout_state import SX, SY, Connectivity, H, LayoutState, X, Y, Z
from voxforge.core.brickmodel import BrickModel

log = logging.getLogger(__name__)

BRIDGE_WEIGHTS = LayerWeights(part_cost=100.0, bond_w=80.0, bond_cap=3.0, seam_w=40.0, orient_w=0.0)
"""Re-lay costs for bridging: touching several components beats part count."""


@dataclass
class RepairLog:
    """What the repair passes changed.

    Attributes:
        bridged_layers: plate levels re-laid to join components.
        support_parts: number of parts added under floating components or weak parts.
        support_columns: (x, y, z0, z1) of each support column (cells ``z0 <= z < z1``).
        relaid_parts: parts taken out and re-laid by the stability rounds.
        rounds: stability rounds run.
        stable: the last stability verdict, None when no physics callable was given.
        notes: human-readable reasons when something could not be repaired.
    """

    bridged_layers: list[int] = field(default_factory=list)
    support_parts: int = 0
    support_columns: list[tuple[int, int, int, int]] = field(default_factory=list)
    relaid_parts: int = 0
    rounds: int = 0
    stable: bool | None = None
    notes: list[str] = field(default_factory=list)


def _component_grid(state: LayoutState, comp: np.ndarray) -> np.ndarray:
    """(nx, ny, nz) int64 component label per cell, -1 where empty."""
    lab = state.labels
    return np.where(lab >= 0, comp[np.maximum(lab, 0)], -1)


def _bridge_levels(state: LayoutState, conn: Connectivity) -> list[int]:
    """Plate levels where different components touch side by side, most contact first."""
    cg = _component_grid(state, conn.comp)
    contact = np.zeros(state.shape[2], dtype=np.int64)
    for a, b in ((cg[:-1], cg[1:]), (cg[:, :-1], cg[:, 1:])):
        touch = (a >= 0) & (b >= 0) & (a != b)
        contact += touch.sum(axis=(0, 1))
    levels = np.flatnonzero(contact)
    return [int(z) for z in levels[np.argsort(-contact[levels], kind="stable")]]


def _relay(
    state: LayoutState,
    idx: np.ndarray,
    weights: LayerWeights,
    seed: int,
    pref_flip: int,
    plates_only: bool = False,
    use_components: bool = False,
) -> np.ndarray:
    """Take rows ``idx`` out and lay the freed cells again, level by level, bottom-up.

    Freed cells may take a plate, or a brick where three freed same-colour cells stack (so a brick
    next to plates can become plates that span the joint), unless ``plates_only``. With
    ``use_components`` the bonding and seam terms see component labels of the remaining parts
    instead of part labels (so the cheapest parts are those joining components).
    Returns the new row indices.
    """
    old = state.remove(idx)
    region = np.zeros(state.shape, dtype=bool)
    for r in old:
        region[r[X] : r[X] + r[SX], r[Y] : r[Y] + r[SY], r[Z] : r[Z] + r[H]] = True
    return _relay_region(state, region, weights, seed, pref_flip, plates_only, use_components)


def _relay_region(
    state: LayoutState,
    region: np.ndarray,
    weights: LayerWeights,
    seed: int,
    pref_flip: int,
    plates_only: bool,
    use_components: bool,
) -> np.ndarray:
    """Lay the empty cells of ``region`` ((nx, ny, nz) bool) bottom-up; returns new row indices."""
    solver = LAYOUT_STRATEGIES["greedy"]
    nx, ny, nz = state.shape
    if use_components:
        grid = _component_grid(state, state.connectivity().comp).astype(np.int32)
    else:
        grid = state.labels
    new: list[np.ndarray] = []
    zs = np.flatnonzero(region.any(axis=(0, 1)))
    for z in range(int(zs.min()), int(zs.max()) + 1) if len(zs) else ():
        free = region[:, :, z] & (state.labels[:, :, z] < 0)
        if not free.any():
            continue
        hb = np.where(free, PLATE_BIT, 0).astype(np.uint8)
        if not plates_only and z + 3 <= nz:
            run = free & region[:, :, z + 1] & region[:, :, z + 2]
            run &= (state.labels[:, :, z + 1] < 0) & (state.labels[:, :, z + 2] < 0)
            run &= (state.code[:, :, z + 1] == state.code[:, :, z]) & (
                state.code[:, :, z + 2] == state.code[:, :, z]
            )
            hb[run] |= BRICK_BIT
        below = grid[:, :, z - 1] if z > 0 else np.full((nx, ny), -1, np.int32)
        above = state.above_labels(z, hb & PLATE_BIT, grid)
        pref = (z // 3 + pref_flip) % 2
        prob = state.problem(z, hb, weights, pref, seed, below=below, above=above)
        added = state.lay(prob, solver, 0.0)
        new.append(added)
        if use_components:
            # new parts get a fresh label each so later levels see them as parts of their own
            grid = np.where(state.labels >= 0, grid, -1)
            for i in added:
                r = state.rows[i]
                grid[r[X] : r[X] + r[SX], r[Y] : r[Y] + r[SY], r[Z] : r[Z] + r[H]] = -2 - i
    return np.concatenate(new) if new else np.zeros(0, dtype=np.int64)


def _touching_pairs(state: LayoutState, conn: Connectivity) -> np.ndarray:
    """(k, 5) int64 ``(x, y, z, axis, main)`` of same-colour side contacts between components.

    ``axis`` 0 means the pair is (x, y)-(x+1, y), 1 means (x, y)-(x, y+1); ``main`` is 1 when one
    side belongs to the biggest component (those are tried first).
    """
    cg = _component_grid(state, conn.comp)
    sizes = np.bincount(conn.comp[conn.comp >= 0])
    main = int(np.argmax(sizes)) if len(sizes) else -1
    out = []
    for axis, (a, b, ca, cb) in enumerate(
        (
            (cg[:-1], cg[1:], state.code[:-1], state.code[1:]),
            (cg[:, :-1], cg[:, 1:], state.code[:, :-1], state.code[:, 1:]),
        )
    ):
        touch = (a >= 0) & (b >= 0) & (a != b) & (ca == cb)
        x, y, z = np.nonzero(touch)
        is_main = (a[touch] == main) | (b[touch] == main)
        out.append(np.stack([x, y, z, np.full(len(x), axis), is_main.astype(np.int64)], axis=1))
    pairs = np.concatenate(out) if out else np.zeros((0, 5), np.int64)
    order = np.lexsort((pairs[:, 1], pairs[:, 0], pairs[:, 2], -pairs[:, 4]))
    return pairs[order]


def _forced_bridge(state: LayoutState, pair: np.ndarray, plates_only: bool, seed: int) -> np.ndarray:
    """Replace the parts at a side contact by a 1x2 plate spanning it plus a re-lay of the rest."""
    x, y, z, axis = (int(v) for v in pair[:4])
    bx, by = (x + 1, y) if axis == 0 else (x, y + 1)
    idx = np.unique([state.labels[x, y, z], state.labels[bx, by, z]])
    old = state.remove(idx)
    region = np.zeros(state.shape, dtype=bool)
    for r in old:
        region[r[X] : r[X] + r[SX], r[Y] : r[Y] + r[SY], r[Z] : r[Z] + r[H]] = True
    plate = state.table.index("3023")
    sx, sy = (2, 1) if axis == 0 else (1, 2)
    first = state.add(np.array([[x, y, z, sx, sy, 1, plate, state.code[x, y, z]]], dtype=np.int64))
    rest = _relay_region(state, region, BRIDGE_WEIGHTS, seed, 0, plates_only, True)
    return np.concatenate([first, rest])


def _restore(state: LayoutState, new: np.ndarray, old_rows: np.ndarray) -> None:
    state.remove(new)
    state.add(old_rows)


def _restored(conn: Connectivity, state: LayoutState, idx: np.ndarray) -> Connectivity:
    """``conn`` carried over to the state after rows ``idx`` were put back as the last rows."""
    n = len(state.rows)
    comp = np.full(n, -1, dtype=np.int64)
    floating = np.zeros(n, dtype=bool)
    comp[: len(conn.comp)] = conn.comp
    floating[: len(conn.floating)] = conn.floating
    comp[n - len(idx) :] = conn.comp[idx]
    floating[n - len(idx) :] = conn.floating[idx]
    comp[~state.alive] = -1
    floating[~state.alive] = False
    return Connectivity(comp, conn.n_components, floating)


def bridge_components(
    state: LayoutState,
    log_: RepairLog,
    seed: int,
    deadline: float,
    max_tries: int = 60,
    plates_only: bool = False,
) -> Connectivity:
    """Join side-by-side components by re-laying the layers where they touch (kept if it helps)."""
    conn = state.connectivity()
    tries = 0
    while conn.n_components > 1 and tries < max_tries and time.perf_counter() < deadline:
        improved = False
        for z in _bridge_levels(state, conn):
            if tries >= max_tries or time.perf_counter() >= deadline:
                break
            tries += 1
            # every part crossing the touching level: its cells may be re-laid with other heights
            r = state.rows
            idx = np.flatnonzero(state.alive & (r[:, Z] <= z) & (r[:, Z] + r[:, H] > z))
            old_rows = state.rows[idx].copy()
            new = _relay(state, idx, BRIDGE_WEIGHTS, seed + tries, 0, plates_only, use_components=True)
            after = state.connectivity()
            if after.key() < conn.key():
                log_.bridged_layers.append(int(z))
                conn = after
                improved = True
                break
            _restore(state, new, old_rows)
            conn = _restored(conn, state, idx)
        if not improved:
            break
    # targeted: a 1x2 plate across one side contact, for each contact until one helps
    while conn.n_components > 1 and tries < 4 * max_tries and time.perf_counter() < deadline:
        improved = False
        for pair in _touching_pairs(state, conn)[:max_tries]:
            if time.perf_counter() >= deadline:
                break
            tries += 1
            x, y, z, axis = (int(v) for v in pair[:4])
            bx, by = (x + 1, y) if axis == 0 else (x, y + 1)
            idx = np.unique([state.labels[x, y, z], state.labels[bx, by, z]])
            old_rows = state.rows[idx].copy()
            new = _forced_bridge(state, pair, plates_only, seed + tries)
            after = state.connectivity()
            if after.key() < conn.key():
                log_.bridged_layers.append(z)
                conn = after
                improved = True
                break
            _restore(state, new, old_rows)
            conn = _restored(conn, state, idx)
        if not improved:
            break
    return conn


def _support_rows(x: int, y: int, z0: int, z1: int, color: int, state: LayoutState) -> np.ndarray:
    """Rows of a 1x1 column filling cells ``z0 <= z < z1``: bricks from the bottom, plates on top."""
    brick = state.table.index("3005")
    plate = state.table.index("3024")
    rows = []
    z = z0
    while z1 - z >= 3:
        rows.append((x, y, z, 1, 1, 3, brick, color))
        z += 3
    while z < z1:
        rows.append((x, y, z, 1, 1, 1, plate, color))
        z += 1
    return np.asarray(rows, dtype=np.int64)


def _nearest_below(occ: np.ndarray) -> np.ndarray:
    """(nx, ny, nz) int64: highest filled level strictly below each cell, -1 for the ground."""
    nz = occ.shape[2]
    lev = np.where(occ, np.arange(nz)[None, None, :], -1)
    top = np.maximum.accumulate(lev, axis=2)
    out = np.full(occ.shape, -1, dtype=np.int64)
    out[:, :, 1:] = top[:, :, :-1]
    return out


def add_supports(
    state: LayoutState,
    log_: RepairLog,
    support_color: int,
    targets: np.ndarray | None = None,
    max_rounds: int = 64,
) -> Connectivity:
    """Hang every floating component (or each row in ``targets``) on a column down to solid ground.

    Per component the shortest column is chosen from its overhanging bottom cells, preferring one
    that lands on a grounded part or the ground; columns of one round never overlap (each fills the
    gap under a different bottom cell). Colour ``support_color`` is added to the palette's cells.
    """
    conn = state.connectivity()
    for _ in range(max_rounds):
        if targets is None:
            groups = conn.comp.copy()
            groups[~conn.floating] = -1
        else:
            groups = np.full(len(state.rows), -1, dtype=np.int64)
            t = np.asarray(targets, dtype=np.int64)
            t = t[state.alive[t] & (state.rows[t, Z] > 0)]
            groups[t] = t
        if (groups < 0).all():
            break
        occ = state.labels >= 0
        below = _nearest_below(occ)
        x, y, z = np.nonzero(occ)
        g = groups[state.labels[x, y, z]]
        keep = (g >= 0) & (z > 0)
        x, y, z, g = x[keep], y[keep], z[keep], g[keep]
        gap = ~occ[x, y, z - 1]
        x, y, z, g = x[gap], y[gap], z[gap], g[gap]
        if len(x) == 0:
            break
        hit = below[x, y, z]
        hit_comp = np.where(hit >= 0, conn.comp[state.labels[x, y, np.maximum(hit, 0)]], -1)
        own = conn.comp[state.labels[x, y, z]]
        lands_solid = (hit < 0) | ~conn.floating[state.labels[x, y, np.maximum(hit, 0)]]
        other = hit_comp != own
        length = z - 1 - hit
        # best per group: lands on solid ground first, then on another component, then shortest
        order = np.lexsort((z, y, x, length, ~other, ~lands_solid, g))
        _, first = np.unique(g[order], return_index=True)
        pick = order[first]
        pick = pick[other[pick] | lands_solid[pick]]
        if len(pick) == 0:
            log_.notes.append("floating parts have nothing under them to stand a support on")
            break
        for i in pick:
            z0, z1 = int(hit[i]) + 1, int(z[i])
            xi, yi = int(x[i]), int(y[i])
            state.filled[xi, yi, z0:z1] = True
            state.added[xi, yi, z0:z1] = True
            state.code[xi, yi, z0:z1] = support_color
            state.cidx[xi, yi, z0:z1] = int(np.searchsorted(state.palette, support_color))
            rows = _support_rows(xi, yi, z0, z1, support_color, state)
            state.add(rows)
            log_.support_parts += len(rows)
            log_.support_columns.append((xi, yi, z0, z1))
        conn = state.connectivity()
        if targets is not None:
            break
    return conn


def connect(
    state: LayoutState,
    log_: RepairLog,
    seed: int,
    support_color: int,
    deadline: float,
    plates_only: bool = False,
) -> Connectivity:
    """Bridge side-by-side components, then support whatever still floats; says why if it fails."""
    conn = bridge_components(state, log_, seed, deadline, plates_only=plates_only)
    if conn.n_floating:
        conn = add_supports(state, log_, support_color)
        if conn.n_components > 1:
            conn = bridge_components(
                state, log_, seed + 101, deadline + 1.0, max_tries=20, plates_only=plates_only
            )
    if conn.n_floating:
        log_.notes.append(f"{conn.n_floating} parts still float after bridging and supports")
    elif conn.n_components > 1:
        log_.notes.append(
            f"{conn.n_components} separate pieces stand on the ground; the shape does not join them "
            "(a baseplate does)"
        )
    return conn


StabilityFn = Callable[[BrickModel], Any]
"""``stability(model) -> report`` with ``report.stable: bool`` and ``report.weakest: list[int]``."""


def _neighbours(state: LayoutState, rows: np.ndarray) -> np.ndarray:
    """Rows sharing a stud contact with any of ``rows`` (``rows`` included)."""
    c = state.contacts()
    sel = np.isin(c.lower, rows) | np.isin(c.upper, rows)
    return np.unique(np.concatenate([rows, c.lower[sel], c.upper[sel]]))


def stabilise(
    state: LayoutState,
    stability: StabilityFn,
    log_: RepairLog,
    *,
    seed: int,
    rounds: int,
    support_color: int,
    pitch: np.ndarray,
    origin: np.ndarray,
    deadline: float,
    plates_only: bool = False,
) -> Any:
    """Re-lay the weakest region up to ``rounds`` times, then prop the weakest parts; last report."""
    report = stability(state.model(pitch, origin))
    weights = LayerWeights(bond_w=60.0, seam_w=20.0)
    for r in range(rounds):
        if bool(report.stable):
            break
        log_.rounds = r + 1
        live = state.live_index()
        weak = live[np.asarray(list(report.weakest), dtype=np.int64)]
        region = _neighbours(state, weak)
        before = state.connectivity()
        old_rows = state.rows[region].copy()
        new = _relay(state, region, weights, seed + 7919 * (r + 1), 1 + r, plates_only)
        after = state.connectivity()
        if after.key() > before.key():
            after = connect(state, log_, seed + r, support_color, deadline, plates_only)
        if after.key() > before.key():
            _restore(state, new, old_rows)
            continue
        log_.relaid_parts += len(region)
        report = stability(state.model(pitch, origin))
    if not bool(report.stable):
        live = state.live_index()
        weak = live[np.asarray(list(report.weakest), dtype=np.int64)]
        n0 = log_.support_parts
        add_supports(state, log_, support_color, targets=weak)
        if log_.support_parts > n0:
            report = stability(state.model(pitch, origin))
    log_.stable = bool(report.stable)
    return report


__all__ = [
    "BRIDGE_WEIGHTS",
    "RepairLog",
    "StabilityFn",
    "add_supports",
    "bridge_components",
    "connect",
    "stabilise",
]
