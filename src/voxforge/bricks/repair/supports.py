"""Support columns: new cells under parts that hang, laid as bricks and plates down to a part
below or the ground.

A component with no stud path to the ground gets a column in a neutral colour from its lowest
overhang down to the nearest grounded part (or the ground). The stability loop
(:mod:`voxforge.bricks.repair.stabilise`) props weak parts the same way: under the weakest hanging
parts, at the bottom cell farthest from where the part rests, or where the physics' dual prices
say a support takes the most overload off. New cells are reported (``added``).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from voxforge.bricks.connectivity import StudContacts
from voxforge.bricks.layout.problem import LayerWeights
from voxforge.bricks.layout.state import SX, SY, Connectivity, LayoutState, X, Y, Z
from voxforge.bricks.physics.report import StabilityReport
from voxforge.bricks.repair.log import RepairLog
from voxforge.bricks.repair.relay import relay_region, vertical_runs, widen_columns


def _landings(
    state: LayoutState, x: np.ndarray, y: np.ndarray, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where a column down from each cell (x, y, z) (each (k,) int64) lands: the highest filled
    level strictly below it (-1: the ground) and the row there (the label at level 0 for the
    ground). Only the k cells' own columns are read, not the whole grid."""
    lab = state.labels[x, y, :]  # (k, nz)
    below = (lab >= 0) & (np.arange(lab.shape[1])[None, :] < z[:, None])
    hit = np.where(below.any(axis=1), lab.shape[1] - 1 - np.argmax(below[:, ::-1], axis=1), -1)
    return hit, lab[np.arange(len(x)), np.maximum(hit, 0)]


def lay_supports(
    state: LayoutState,
    log_: RepairLog,
    columns: list[tuple[int, int, int, int]],
    support_color: int,
    plates_only: bool,
) -> np.ndarray:
    """Add the cells of ``columns`` (widened to 2x2 where they fit) and lay them; new row indices."""
    cells = np.zeros(state.shape, dtype=bool)
    for x, y, z0, z1 in columns:
        cells[x, y, z0:z1] = True
    cells = widen_columns(cells, state.filled) & ~state.filled
    if not cells.any():
        return np.zeros(0, dtype=np.int64)
    state.add_cells(cells, support_color)
    log_.support_columns += vertical_runs(cells)
    new = relay_region(state, cells, LayerWeights(), 0, 0, plates_only, False)
    log_.support_parts += len(new)
    return new


def _hanging_cells(
    state: LayoutState, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bottom cells of grouped rows with nothing under them: x, y, z, group (each (k,) int64).

    ``groups`` is an (n_rows,) int64 group per row, -1 for rows to leave out.
    """
    occ = state.labels >= 0
    x, y, z = np.nonzero(occ)
    g = groups[state.labels[x, y, z]]
    keep = (g >= 0) & (z > 0)
    x, y, z, g = x[keep], y[keep], z[keep], g[keep]
    gap = ~occ[x, y, z - 1]
    return x[gap], y[gap], z[gap], g[gap]


def add_supports(
    state: LayoutState,
    log_: RepairLog,
    support_color: int,
    targets: np.ndarray | None = None,
    max_rounds: int = 64,
    plates_only: bool = False,
) -> Connectivity:
    """Stand every floating component (or each row in ``targets``) on a column down to solid ground.

    Per component the shortest column is chosen from its overhanging bottom cells, preferring one
    that lands on a part of another component that stands (so the model becomes one piece), then
    the ground, then another floating component. Per target row the column goes under its
    overhanging bottom cell farthest from the cells it rests on (the tip of a ledge), shortest
    first among equals. Columns are 2x2 where the room allows, colour ``support_color``, laid as
    ordinary parts; their cells are reported (``state.added``, ``log_.support_columns``).
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
        x, y, z, g = _hanging_cells(state, groups)
        if len(x) == 0:
            break
        hit, under = _landings(state, x, y, z)
        own = conn.comp[state.labels[x, y, z]]
        on_ground = hit < 0
        on_solid = ~on_ground & (conn.comp[under] != own) & ~conn.floating[under]
        on_other = ~on_ground & (conn.comp[under] != own)
        length = z - 1 - hit
        if targets is None:
            order = np.lexsort((z, y, x, length, ~on_other, ~on_ground, ~on_solid, g))
        else:
            order = np.lexsort((z, y, x, length, -_tip_distance(state, x, y, z), g))
        _, first = np.unique(g[order], return_index=True)
        pick = order[first]
        pick = pick[on_other[pick] | on_ground[pick]] if targets is None else pick
        if len(pick) == 0:
            log_.notes.append("floating parts have nothing under them to stand a support on")
            break
        columns = [(int(x[i]), int(y[i]), int(hit[i]) + 1, int(z[i])) for i in pick]
        lay_supports(state, log_, columns, support_color, plates_only)
        conn = state.connectivity()
        if targets is not None:
            break
    return conn


MAX_JOIN_PLATES = 12
"""Longest column, in plates, that :func:`join_standing` puts between two pieces (four bricks):
a longer one would stand out from the shape as a pillar of its own."""


def join_standing(
    state: LayoutState,
    log_: RepairLog,
    support_color: int,
    plates_only: bool = False,
    max_plates: int = MAX_JOIN_PLATES,
    max_rounds: int = 16,
) -> Connectivity:
    """Join pieces that each stand on the ground by a column across the gap between them.

    A piece can stand apart though its cells touch the rest (two plates side by side in one
    layer, such as a thin runner cut into a 1x4 and a 1x3, hold nothing together), or it lies
    under another piece with empty cells between them. The shortest vertical gap between the
    bottom of one piece and a part of another piece directly under it is filled with a column
    (:func:`lay_supports`), one column per round while the number of pieces falls; gaps over
    ``max_plates`` are left (the verdict then names the separate pieces).
    """
    conn = state.connectivity()
    for _ in range(max_rounds):
        if conn.n_components < 2:
            break
        x, y, z, g = _hanging_cells(state, conn.comp.copy())
        if len(x) == 0:
            break
        hit, under = _landings(state, x, y, z)
        length = z - 1 - hit
        ok = (hit >= 0) & (length <= max_plates)
        ok[ok] &= conn.comp[under[ok]] != g[ok]
        if not ok.any():
            break
        i = np.flatnonzero(ok)[np.lexsort((z[ok], y[ok], x[ok], length[ok]))[0]]
        before = conn.n_components
        lay_supports(
            state, log_, [(int(x[i]), int(y[i]), int(hit[i]) + 1, int(z[i]))], support_color, plates_only
        )
        conn = state.connectivity()
        if conn.n_components >= before:
            break
    return conn


def _tip_distance(state: LayoutState, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(k,) float64 stud distance of each hanging bottom cell from the nearest held cell of its part.

    A held cell is a bottom cell of the same part with something directly under it (or the ground);
    a column farthest from those shortens the lever of an overhang the most.
    """
    out = np.zeros(len(x), dtype=np.float64)
    lab = state.labels
    for k in range(len(x)):
        r = state.rows[lab[x[k], y[k], z[k]]]
        x0, y0, zb = int(r[X]), int(r[Y]), int(r[Z])
        if zb == 0:
            continue
        held = lab[x0 : x0 + r[SX], y0 : y0 + r[SY], zb - 1] >= 0
        hx, hy = np.nonzero(held)
        if len(hx):
            out[k] = float(np.min(np.hypot(hx + x0 - x[k], hy + y0 - y[k])))
    return out


def place_props(
    state: LayoutState,
    log_: RepairLog,
    spots: list[np.ndarray],
    budget: int,
    support_color: int,
    plates_only: bool,
    skip: frozenset[int] = frozenset(),
) -> set[int]:
    """Prop columns under the overloaded ``spots`` (worst first; the last one, the weakest
    parts, only takes what is left of the budget); returns the rows that got one.

    Every spot gets one column first, whatever the budget, unless a column already went under
    one of its candidates (:func:`_prop_candidates`; two spots on one load path, such as the
    twin arms of a symmetric shape, share them): separate overloads each need their own, and a
    check per column costs more than the column. Then, while ``budget`` columns are not
    placed, the spots take turns (a long arm far over capacity needs several). Rows in ``skip``
    (whose props did not help before) get none.
    """
    contacts, hangs = state.contacts(), _hanging_rows(state)
    queues = [_prop_candidates(state, rows, contacts, hangs) for rows in spots]
    tried: set[int] = set(skip)
    placed: set[int] = set()

    def place(queue: list[int]) -> bool:
        while queue:
            w = queue.pop(0)
            if w in tried:
                continue
            tried.add(w)
            n1 = len(log_.support_columns)
            add_supports(state, log_, support_color, targets=np.array([w]), plates_only=plates_only)
            if len(log_.support_columns) > n1:
                placed.add(w)
                return True
        return False

    for queue in queues[:-1]:
        if not placed.intersection(queue):
            place(queue)
    left = budget - len(placed)
    while left > 0 and any(queues):
        for queue in queues:
            if left > 0 and place(queue):
                left -= 1
    return placed


def _chain(
    contacts: StudContacts, row: int, up: bool, limit: int, through: np.ndarray | None = None
) -> np.ndarray:
    """Rows reached from ``row`` through stud contacts going only up (those resting on it, on
    them, ...) or only down, level by level (``row`` first), at most ``limit``; ``through``:
    (n_rows,) bool the rows the walk may enter (None: all)."""
    src, dst = (contacts.lower, contacts.upper) if up else (contacts.upper, contacts.lower)
    seen = [row]
    frontier = np.array([row], dtype=np.int64)
    while len(frontier) and len(seen) < limit:
        step = np.unique(dst[np.isin(src, frontier)])
        step = step[~np.isin(step, seen)]
        if through is not None:
            step = step[through[step]]
        seen += step.tolist()
        frontier = step
    return np.asarray(seen[:limit], dtype=np.int64)


def _attached(state: LayoutState, contacts: StudContacts, row: int, limit: int = 256) -> np.ndarray:
    """Rows joined to ``row`` by stud chains that never go below its bottom (``row`` first, then
    breadth first), at most ``limit``: the structure that can tip it or lever it up."""
    level = state.rows[row, Z]
    keep = (state.rows[contacts.lower, Z] >= level) & (state.rows[contacts.upper, Z] >= level)
    n = len(state.rows)
    ones = np.ones(int(keep.sum()))
    edges = (contacts.lower[keep], contacts.upper[keep])
    graph = sparse.coo_matrix((ones, edges), shape=(n, n)).tocsr()
    order = csgraph.breadth_first_order(graph, row, directed=False, return_predecessors=False)
    return np.asarray(order[:limit], dtype=np.int64)


def _live_hanging_cells(state: LayoutState) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_hanging_cells` of every live row, grouped by row index."""
    rows = np.arange(len(state.rows))
    return _hanging_cells(state, np.where(state.alive, rows, -1))


def _hanging_rows(state: LayoutState) -> np.ndarray:
    """(n_rows,) bool live rows above the ground with some bottom cell over nothing."""
    _x, _y, _z, g = _live_hanging_cells(state)
    out = np.zeros(len(state.rows), dtype=bool)
    out[g] = True
    return out


def _prop_candidates(
    state: LayoutState,
    weak: np.ndarray,
    contacts: StudContacts | None = None,
    hangs: np.ndarray | None = None,
) -> list[int]:
    """Rows to prop, in order: each weak row, or when it does not hang, the hanging rows it carries,
    then the hanging rows it rests on; last, the hanging rows farthest out in what is attached
    to the weak rows at or above their level.

    A part in tension that sits fully on others (a stand under a screen, the post under a
    ledge) is relieved by propping the load it carries, not by a column under itself; of those,
    the hanging row farthest out from the weak part goes first. A part whose overhang is
    carried by parts hanging under it (a table top's back edge, three plates thick, on the plates
    of its underside) is relieved by a column under those. A leg in tension under a table that
    tips carries only the parts stacked over it: the far edge of the top, beside those, is
    where a column stops the tipping (:func:`_attached`). ``contacts`` and ``hangs`` (the
    state's stud contacts and :func:`_hanging_rows`) are computed when not given.
    """
    contacts = state.contacts() if contacts is None else contacts
    hangs = _hanging_rows(state) if hangs is None else hangs
    out: list[int] = []
    last: list[int] = []
    for w in weak.tolist():
        r = state.rows[w]
        if hangs[w]:
            out.append(int(w))
            continue
        out += _farthest_hanging(state, _chain(contacts, w, True, 256)[1:], hangs, r)
        out += _chain(contacts, w, False, 65, through=hangs)[1:3].tolist()
        last += _farthest_hanging(state, _attached(state, contacts, w)[1:], hangs, r)
    return list(dict.fromkeys(out + last))


def _farthest_hanging(
    state: LayoutState, rows: np.ndarray, hangs: np.ndarray, r: np.ndarray, k: int = 2
) -> list[int]:
    """The ``k`` hanging ones of ``rows`` farthest (footprint centres) from row ``r``."""
    rows = rows[hangs[rows]]
    ends = state.rows[rows]
    cx, cy = r[X] + r[SX] / 2, r[Y] + r[SY] / 2
    far = np.hypot(ends[:, X] + ends[:, SX] / 2 - cx, ends[:, Y] + ends[:, SY] / 2 - cy)
    return rows[np.argsort(-far, kind="stable")].tolist()[:k]


def priced_columns(
    state: LayoutState, report: StabilityReport, k: int
) -> list[tuple[int, int, int, int]]:
    """Up to ``k`` columns ``(x, y, z0, z1)`` under hanging bottom cells where the report's
    :attr:`~voxforge.bricks.physics.report.StabilityReport.prop_price` says a support lowers the
    total overload (the price of the part over the column minus that of the part it lands on):
    of the cells priced near the best (:data:`NEAR_BEST_PRICE`), the shortest columns first, at
    least 3 studs apart; none when the report has no prices."""
    price = np.asarray(report.prop_price, dtype=np.float64)
    live = state.live_index()
    if price.shape != (len(live), 3) or not price.any():
        return []
    plane = np.zeros((len(state.rows), 3))
    plane[live] = price
    x, y, z, g = _live_hanging_cells(state)
    hit, under = _landings(state, x, y, z)
    cx, cy = x + 0.5, y + 0.5

    def at(r: np.ndarray) -> np.ndarray:
        return plane[r, 0] + plane[r, 1] * cx + plane[r, 2] * cy

    gain = at(g) - np.where(hit >= 0, at(under), 0.0)
    good = gain <= min(-MIN_PROP_PRICE, NEAR_BEST_PRICE * float(gain.min(initial=0.0)))
    picked: list[tuple[int, int, int, int]] = []
    for i in np.flatnonzero(good)[np.lexsort(((gain[good]), (z - hit)[good]))]:
        if len(picked) >= k:
            break
        if all(max(abs(x[i] - px), abs(y[i] - py)) >= 3 for px, py, _, _ in picked):
            picked.append((int(x[i]), int(y[i]), int(hit[i]) + 1, int(z[i])))
    return picked


MIN_PROP_PRICE = 0.01
"""Overload (newtons) one newton of support must take off, to first order, for a priced column
to stand (a small threshold: it rules out only the columns that do next to nothing)."""

NEAR_BEST_PRICE = 0.5
"""Cells priced at least this share of the best cell's price compete on column length (the
shortest first): a price is a first-order gain per newton, and a column two thirds shorter
that takes half as much off per newton is fewer parts and usually enough."""
