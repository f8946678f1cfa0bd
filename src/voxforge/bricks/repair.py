"""Repair passes of the layout: bridge components, add supports, re-lay weak regions.

Order of preference, cheapest change to the model first:

1. **Bridge**: two components that touch side by side in some layer are joined by re-laying that
   layer with a cost that rewards parts touching several components above/below and penalises
   outlines on component boundaries (a part then spans the gap). Kept only when it helps.
2. **Support**: a component with no stud path to the ground gets a column of new cells in a neutral
   colour from its lowest overhang down to the nearest grounded part (or the ground); the column is
   laid as 1x1 bricks and plates. New cells are reported (``added``).
3. **Stability**: when a physics callable says the model fails, or that it stands with less
   than the safety margin (``target_margin``: the share of the most loaded stud's clutch that
   must stay unused), the weakest parts and their neighbours are re-laid with another seed, the
   other orientation preference and a stronger bonding reward; after the last round supports go
   under the weakest parts that still hang. When the budget ends short of the margin the log
   says so in plain words (``notes``, ``margin_reached``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import csgraph

from voxforge.bricks.connectivity import StudContacts
from voxforge.bricks.layout_greedy import LAYOUT_STRATEGIES, LayerWeights
from voxforge.bricks.layout_kernels import BRICK_BIT, PLATE_BIT
from voxforge.bricks.layout_state import SX, SY, Connectivity, H, LayoutState, X, Y, Z
from voxforge.bricks.physics.lp import STRESS_TOLERANCE
from voxforge.core.brickmodel import BrickModel
from voxforge.core.errors import SizeLimitError

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
        relaid_parts: parts taken out and re-laid by the stability rounds (kept re-lays only).
        rounds: stability re-lay rounds run.
        stability_supports: support columns added because the physics said the model fails.
        recoloured: (x, y, z) cells that took a neighbour's colour so that one plate joins two
            pieces.
        stable: the last stability verdict, None when no physics callable was given.
        margin: the last report's margin (``1 - max_stress``), None without physics.
        margin_reached: the last report stands with at least the target margin (None without
            physics).
        notes: human-readable reasons when something could not be repaired.
    """

    bridged_layers: list[int] = field(default_factory=list)
    support_parts: int = 0
    support_columns: list[tuple[int, int, int, int]] = field(default_factory=list)
    relaid_parts: int = 0
    rounds: int = 0
    stability_supports: int = 0
    recoloured: list[tuple[int, int, int]] = field(default_factory=list)
    stable: bool | None = None
    margin: float | None = None
    margin_reached: bool | None = None
    notes: list[str] = field(default_factory=list)


STEP_MM = (8.0, 8.0, 3.2)
"""Length of one lattice step along x, y, z in millimetres (the cost of a joining path)."""


def _shape_paths(
    free: np.ndarray, root: np.ndarray, reach: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Shortest paths through ``free`` cells from the cells ``reach(root)`` gives.

    Args:
        free: (nx, ny, nz) bool cells a path may use (empty, not in the shape).
        root: (nx, ny, nz) bool cells the paths start from.

    Returns:
        dist: (nx, ny, nz) float64 millimetres of path to reach each cell (inf when unreachable),
        counting the cell itself; pred: (nx, ny, nz) int64 flat index of the previous path cell,
        -1 at the first cell of a path.
    """
    shape = free.shape
    n = free.size
    idx = np.arange(n).reshape(shape)
    rows, cols, w = [], [], []
    for axis in range(3):
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[axis], b[axis] = slice(None, -1), slice(1, None)
        both = free[tuple(a)] & free[tuple(b)]
        ia, ib = idx[tuple(a)][both], idx[tuple(b)][both]
        rows += [ia, ib]
        cols += [ib, ia]
        w.append(np.full(2 * len(ia), STEP_MM[axis]))
    start = free & reach(root)
    first = idx[start]
    # node n is the super source: one edge to every start cell, weighted by a vertical step
    rows.append(np.full(len(first), n))
    cols.append(first)
    w.append(np.full(len(first), STEP_MM[2]))
    g = sparse.csr_matrix(
        (np.concatenate(w), (np.concatenate(rows), np.concatenate(cols))), shape=(n + 1, n + 1)
    )
    dist, pred = csgraph.dijkstra(g, indices=n, return_predecessors=True)
    pred = pred[:n].astype(np.int64)
    pred[pred == n] = -1
    pred[pred < 0] = -1
    return dist[:n].reshape(shape), pred.reshape(shape)


def _beside(cells: np.ndarray) -> np.ndarray:
    """(nx, ny, nz) bool cells 6-adjacent to ``cells``, not in it."""
    return ndimage.binary_dilation(cells, ndimage.generate_binary_structure(3, 1)) & ~cells


def _over_under(cells: np.ndarray) -> np.ndarray:
    """(nx, ny, nz) bool cells directly over or under one of ``cells`` (stud reach), not in it."""
    out = np.zeros(cells.shape, dtype=bool)
    out[:, :, 1:] |= cells[:, :, :-1]
    out[:, :, :-1] |= cells[:, :, 1:]
    return out & ~cells


def _thicken(path: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """Give every horizontal step of ``path`` a second plate level (over it, else under it).

    Plates side by side on one level do not hold each other; two levels let the layout stagger
    them, so a path that runs sideways stays one piece.
    """
    out = path.copy()
    horiz = np.zeros(path.shape, dtype=bool)
    for axis in range(2):
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[axis], b[axis] = slice(None, -1), slice(1, None)
        step = path[tuple(a)] & path[tuple(b)]
        horiz[tuple(a)] |= step
        horiz[tuple(b)] |= step
    x, y, z = np.nonzero(horiz)
    nz = path.shape[2]
    for xi, yi, zi in zip(x, y, z, strict=True):
        for zz in (zi + 1, zi - 1):
            if 0 <= zz < nz and not filled[xi, yi, zz]:
                out[xi, yi, zz] = True
                break
    return out


def _widen(cells: np.ndarray, occ: np.ndarray) -> np.ndarray:
    """Grow every vertical run of ``cells`` to a 2x2 column where the four columns are empty.

    A wider support holds more studs (stronger) and lays as 2x2 bricks instead of 1x1s. Runs
    whose every 2x2 neighbourhood meets ``occ`` stay 1x1. Returns the grown (nx, ny, nz) bool mask.
    """
    out = cells.copy()
    nx, ny, _ = cells.shape
    for x, y, z0, z1 in _vertical_runs(cells):
        for dx, dy in ((0, 0), (-1, 0), (0, -1), (-1, -1)):
            x0, y0 = x + dx, y + dy
            if x0 < 0 or y0 < 0 or x0 + 2 > nx or y0 + 2 > ny:
                continue
            box = (slice(x0, x0 + 2), slice(y0, y0 + 2), slice(z0, z1))
            if not (occ[box] & ~cells[box]).any():
                out[box] = True
                break
    return out


def _vertical_runs(cells: np.ndarray) -> list[tuple[int, int, int, int]]:
    """``(x, y, z0, z1)`` of each maximal vertical run of ``cells`` ((nx, ny, nz) bool)."""
    pad = np.zeros((*cells.shape[:2], 1), dtype=bool)
    d = np.diff(np.concatenate([pad, cells, pad], axis=2).astype(np.int8), axis=2)
    sx, sy, sz = np.nonzero(d == 1)
    ez = np.nonzero(d == -1)[2]
    # both lists are in C order of (x, y, z), so the i-th start pairs with the i-th end
    return [(int(x), int(y), int(a), int(b)) for x, y, a, b in zip(sx, sy, sz, ez, strict=True)]


def join_shape(filled: np.ndarray, widen: bool = True) -> np.ndarray:
    """Cells to add so that the shape is one face-connected piece that stands on the ground.

    Parts join only through studs between vertically stacked cells, so a model can be one piece
    only if its cells are 6-connected. Each separate piece (one floating in the air, one standing
    beside the main piece, a detail touching it only at an edge or corner) is joined to the
    biggest grounded piece by the shortest path of new cells, measured in millimetres (a plate
    step is 3.2 mm, a stud step 8 mm, so paths prefer vertical columns: supports); a main piece
    off the ground gets a path down to it. Paths leave and enter the pieces vertically (stud to
    stud, never only side by side), run sideways two plate levels thick (so plates can be
    staggered) and are widened to 2x2 columns where the room allows.

    Args:
        filled: (nx, ny, nz) bool cells of the shape.
        widen: grow the paths' vertical runs to 2x2 columns where they fit.

    Returns:
        (nx, ny, nz) bool cells to add (never in ``filled``); all False when nothing is needed.
    """
    lab, n = ndimage.label(filled)
    added = np.zeros(filled.shape, dtype=bool)
    if n == 0:
        return added
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    sizes[0] = 0
    grounded = np.unique(lab[:, :, 0][lab[:, :, 0] > 0])
    if n == 1 and len(grounded):
        return added
    root_label = int(grounded[np.argmax(sizes[grounded])]) if len(grounded) else int(np.argmax(sizes))
    root = lab == root_label
    free = ~filled
    pieces = [lab == c for c in range(1, n + 1) if c != root_label]
    dist, pred = _shape_paths(free, root, _over_under)
    missed = [c for c in pieces if not _add_path(added, free & _over_under(c), dist.ravel(), pred)]
    if not len(grounded):
        # the ground is reached by the free cells at z = 0 (the root hangs in the air)
        on_ground = np.zeros(filled.shape, dtype=bool)
        on_ground[:, :, 0] = free[:, :, 0]
        _add_path(added, on_ground, dist.ravel(), pred)
    if missed:
        # no room over or under (the grid's top or bottom): join side by side; bridging then
        # lays parts across the seams
        dist, pred = _shape_paths(free, root, _beside)
        for c in missed:
            _add_path(added, free & _beside(c), dist.ravel(), pred)
    added = _thicken(added, filled)
    if widen:
        added = _widen(added, filled)
    return added & ~filled


def _add_path(added: np.ndarray, ends: np.ndarray, dist: np.ndarray, pred: np.ndarray) -> bool:
    """Mark in ``added`` the cells of the shortest path ending at one of the ``ends`` cells.

    Returns False when no end can be reached.
    """
    cand = np.flatnonzero(ends.ravel())
    if len(cand) == 0:
        return False
    best = int(cand[np.argmin(dist[cand])])
    if not np.isfinite(dist[best]):
        return False
    flat_added = added.reshape(-1)
    flat_pred = pred.reshape(-1)
    while best >= 0:
        flat_added[best] = True
        best = int(flat_pred[best])
    return True


def join_cells(state: LayoutState, log_: RepairLog, support_color: int) -> int:
    """Add the cells of :func:`join_shape` to the state before layout; returns how many."""
    added = join_shape(state.filled)
    if added.any():
        state.add_cells(added, support_color)
        runs = _vertical_runs(added)
        log_.support_columns += runs
        log_.notes.append(
            f"the shape is in pieces: {int(added.sum())} cells added in {len(runs)} columns to join them"
        )
    return int(added.sum())


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


def _touching_pairs(state: LayoutState, conn: Connectivity, same_colour: bool = True) -> np.ndarray:
    """(k, 6) int64 ``(x, y, z, axis, main, anchored)`` of side contacts between components (of
    one colour unless ``same_colour`` is False).

    ``axis`` 0 means the pair is (x, y)-(x+1, y), 1 means (x, y)-(x, y+1); ``main`` is 1 when one
    side belongs to the biggest component; ``anchored`` is 1 when both cells have another part
    directly under them (or both over them), so that a 1x2 plate across the contact touches one
    part of each component by studs. Anchored contacts come first, then those of the main piece.
    """
    lab = state.labels
    cg = _component_grid(state, conn.comp)
    sizes = np.bincount(conn.comp[conn.comp >= 0])
    main = int(np.argmax(sizes)) if len(sizes) else -1
    nz = lab.shape[2]
    pad = np.full((*lab.shape[:2], 1), -1, dtype=lab.dtype)
    under = np.concatenate([pad, lab[:, :, :-1]], axis=2)
    over = np.concatenate([lab[:, :, 1:], pad], axis=2)
    out = []
    for axis in range(2):
        a = (slice(None, -1),) if axis == 0 else (slice(None), slice(None, -1))
        b = (slice(1, None),) if axis == 0 else (slice(None), slice(1, None))
        touch = (cg[a] >= 0) & (cg[b] >= 0) & (cg[a] != cg[b])
        if same_colour:
            touch &= state.code[a] == state.code[b]
        x, y, z = np.nonzero(touch)
        la, lb = lab[a][touch], lab[b][touch]
        ua, ub, oa, ob = under[a][touch], under[b][touch], over[a][touch], over[b][touch]
        anchored = ((ua >= 0) & (ub >= 0) & (ua != la) & (ub != lb)) | (
            (oa >= 0) & (ob >= 0) & (oa != la) & (ob != lb) & (z + 1 < nz)
        )
        is_main = (cg[a][touch] == main) | (cg[b][touch] == main)
        cols = [x, y, z, np.full(len(x), axis), is_main.astype(np.int64), anchored.astype(np.int64)]
        out.append(np.stack(cols, axis=1))
    pairs = np.concatenate(out) if out else np.zeros((0, 6), np.int64)
    order = np.lexsort((pairs[:, 1], pairs[:, 0], pairs[:, 2], -pairs[:, 4], -pairs[:, 5]))
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
    # targeted: a 1x2 plate across one side contact, for each contact until one helps; then the
    # same with plates only, since a brick beside the contact spans the levels a stagger needs
    for plates in (plates_only,) if plates_only else (False, True):
        conn, tries = _forced_bridges(state, log_, conn, seed, deadline, tries, max_tries, plates)
    if conn.n_components > 1:
        # last: contacts between colours; the joining plate takes the bigger piece's colour
        conn, tries = _forced_bridges(
            state, log_, conn, seed, deadline, tries, max_tries, True, recolour=True
        )
    return conn


def _forced_bridges(
    state: LayoutState,
    log_: RepairLog,
    conn: Connectivity,
    seed: int,
    deadline: float,
    tries: int,
    max_tries: int,
    plates_only: bool,
    recolour: bool = False,
) -> tuple[Connectivity, int]:
    """:func:`_forced_bridge` at each side contact until none helps; the connectivity and tries.

    With ``recolour`` the contacts between colours are tried too: the cell of the smaller piece
    takes the bigger piece's colour, so that one plate spans both (one cell of another colour
    beats a model in two pieces)."""
    limit = (5 if recolour else 4) * max_tries
    while conn.n_components > 1 and tries < limit and time.perf_counter() < deadline:
        improved = False
        sizes = np.bincount(conn.comp[conn.comp >= 0])
        for pair in _touching_pairs(state, conn, same_colour=not recolour)[:max_tries]:
            if time.perf_counter() >= deadline:
                break
            tries += 1
            x, y, z, axis = (int(v) for v in pair[:4])
            bx, by = (x + 1, y) if axis == 0 else (x, y + 1)
            idx = np.unique([state.labels[x, y, z], state.labels[bx, by, z]])
            old_rows = state.rows[idx].copy()
            cells = ((x, y, z), (bx, by, z))
            old_code = [(state.code[c], state.cidx[c]) for c in cells]
            if recolour:
                big, small = sorted(cells, key=lambda c: -sizes[conn.comp[state.labels[c]]])
                state.code[small], state.cidx[small] = state.code[big], state.cidx[big]
            new = _forced_bridge(state, pair, plates_only, seed + tries)
            after = state.connectivity()
            if after.key() < conn.key():
                log_.bridged_layers.append(z)
                if recolour:
                    log_.recoloured.append(tuple(int(v) for v in small))
                conn = after
                improved = True
                break
            _restore(state, new, old_rows)
            for c, (code, cidx) in zip(cells, old_code, strict=True):
                state.code[c], state.cidx[c] = code, cidx
            conn = _restored(conn, state, idx)
        if not improved:
            break
    return conn, tries


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


def _lay_supports(
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
    cells = _widen(cells, state.filled) & ~state.filled
    if not cells.any():
        return np.zeros(0, dtype=np.int64)
    state.add_cells(cells, support_color)
    log_.support_columns += _vertical_runs(cells)
    new = _relay_region(state, cells, LayerWeights(), 0, 0, plates_only, False)
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
        _lay_supports(state, log_, columns, support_color, plates_only)
        conn = state.connectivity()
        if targets is not None:
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
        conn = add_supports(state, log_, support_color, plates_only=plates_only)
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
"""``stability(model) -> report`` with ``report.stable: bool``, ``report.margin: float`` and
``report.weakest: list[int]`` (placement indices, most stressed first)."""


def _neighbours(state: LayoutState, rows: np.ndarray) -> np.ndarray:
    """Rows sharing a stud contact with any of ``rows`` (``rows`` included)."""
    c = state.contacts()
    sel = np.isin(c.lower, rows) | np.isin(c.upper, rows)
    return np.unique(np.concatenate([rows, c.lower[sel], c.upper[sel]]))


def _check(
    stability: StabilityFn, state: LayoutState, pitch: np.ndarray, origin: np.ndarray, log_: RepairLog
) -> Any:
    """The physics report of the current state; None (with a note) when the analysis gives up."""
    try:
        return stability(state.model(pitch, origin))
    except SizeLimitError as err:
        log_.notes.append(f"stability not checked: {err}")
        return None


def _margin(report: Any) -> float:
    """The report's margin as a float; -inf when missing or nan (nothing to compare against)."""
    m = getattr(report, "margin", None)
    try:
        m = float(m)
    except (TypeError, ValueError):
        return -math.inf
    return m if math.isfinite(m) or m == math.inf else -math.inf


def _reached(report: Any, target: float) -> bool:
    """The report stands with at least ``target`` margin."""
    return bool(report.stable) and _margin(report) >= target - STRESS_TOLERANCE


def _settled(report: Any, deadline: float, target: float = 0.0) -> bool:
    """Stop the loop: no report, stands with the target margin, undecided (the solver gave up),
    or out of time."""
    if report is None or _reached(report, target) or time.perf_counter() >= deadline:
        return True
    return getattr(report, "verdict", None) == "UNKNOWN"


def _excess(report: Any, limit: float = 1.0) -> float | None:
    """Total stress over ``limit`` across the report's interfaces (at 1: the program's objective,
    StableLego's slack, in stud capacities); None when the report has no interface stresses."""
    s = getattr(report, "interface_stress", None)
    if s is None:
        return None
    s = np.asarray(s, dtype=np.float64)
    return float(np.maximum(s[np.isfinite(s)] - limit, 0.0).sum())


def _progress(before: Any, after: Any, target: float = 0.0) -> float:
    """How much better the check after a round of props is: the larger of the margin's gain and
    the total excess's fall (stress over ``1 - target``), each relative to its size (one of two
    equally loaded twins propped leaves the margin where it was); infinite when the model now
    stands with the target margin (or the physics gave up).
    """
    if after is None or _reached(after, target):
        return float("inf")
    m0, m1 = _margin(before), _margin(after)
    gain = (m1 - m0) / max(1.0, abs(m0))
    e0, e1 = _excess(before, 1.0 - target), _excess(after, 1.0 - target)
    if e0 is not None and e1 is not None:
        gain = max(gain, (e0 - e1) / max(1.0, e0))
    return gain


PROGRESS_TOLERANCE = 1e-6
"""Relative change of the margin or the total excess that counts as progress (the programs agree
to about 1e-9 between solves of the same structure)."""

SMALL_PROGRESS = 0.05
"""Progress (see :func:`_progress`) below which a round's props stay but their parts are not
propped again: a column that takes a few per mille off the stress stands beside the lever, and
more of them there cost a check each (table #3596: four such rounds, 2.733 -> 2.724 x capacity,
before a column under the top's far edge made it stand)."""


@dataclass
class _Snapshot:
    """What a round of props changes, to take the round back out."""

    n_rows: int
    added: np.ndarray
    code: np.ndarray
    cidx: np.ndarray
    n_columns: int
    support_parts: int

    @classmethod
    def of(cls, state: LayoutState, log_: RepairLog) -> _Snapshot:
        return cls(
            len(state.rows),
            state.added.copy(),
            state.code.copy(),
            state.cidx.copy(),
            len(log_.support_columns),
            log_.support_parts,
        )

    def restore(self, state: LayoutState, log_: RepairLog) -> None:
        new = np.arange(self.n_rows, len(state.rows))
        state.remove(new[state.alive[new]])
        cells = state.added & ~self.added
        state.filled[cells] = False
        state.added[cells] = False
        state.code[cells] = self.code[cells]
        state.cidx[cells] = self.cidx[cells]
        del log_.support_columns[self.n_columns :]
        log_.support_parts = self.support_parts


def _weak_rows(state: LayoutState, report: Any) -> np.ndarray:
    """(k,) int64 state rows of the report's weakest placements, most stressed first."""
    live = state.live_index()
    weak = np.asarray(list(report.weakest), dtype=np.int64)
    return live[weak[(weak >= 0) & (weak < len(live))]]


def _overloaded_spots(
    state: LayoutState, report: Any, limit: int = 10, over_stress: float = 1.0
) -> list[np.ndarray]:
    """State rows of each separate overloaded spot of the report (parts joined by interfaces over
    ``over_stress``, the capacity or the safety margin's share of it; most stressed first, at
    most ``limit``), the worst spot first; then the report's
    weakest parts, which also name parts near capacity (a spot's overload is often a part's
    lower down that is not over capacity itself: a chair back's top pulling on the seat)."""
    weak = _weak_rows(state, report)
    pairs = np.asarray(getattr(report, "interface_parts", np.zeros((0, 2))), dtype=np.int64)
    stress = np.asarray(getattr(report, "interface_stress", np.zeros(0)), dtype=np.float64)
    part_stress = np.asarray(getattr(report, "stress", np.zeros(0)), dtype=np.float64)
    if len(stress) != len(pairs) or len(part_stress) == 0:
        return [weak]
    over = np.isfinite(stress) & (stress > over_stress + STRESS_TOLERANCE)
    n = len(part_stress)
    up, lo = pairs[over, 0], pairs[over, 1]
    lo = np.where(lo >= 0, lo, up)  # a part over capacity on the ground: a spot of its own
    graph = sparse.coo_matrix((np.ones(len(up)), (up, lo)), shape=(n, n)).tocsr()
    _, label = csgraph.connected_components(graph, directed=False)
    parts = np.unique(np.concatenate([up, lo]))
    spots = []
    for lab in np.unique(label[parts]):
        members = parts[label[parts] == lab]
        spots.append(members[np.argsort(-part_stress[members], kind="stable")][:limit])
    spots.sort(key=lambda m: -part_stress[m[0]])
    live = state.live_index()
    return [live[m] for m in spots] + [weak]


def _place_props(
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


def _priced_columns(state: LayoutState, report: Any, k: int) -> list[tuple[int, int, int, int]]:
    """Up to ``k`` columns ``(x, y, z0, z1)`` under hanging bottom cells where the report's
    :attr:`~voxforge.bricks.physics.report.StabilityReport.prop_price` says a support lowers the
    total overload (the price of the part over the column minus that of the part it lands on):
    of the cells priced near the best (:data:`NEAR_BEST_PRICE`), the shortest columns first, at
    least 3 studs apart; none when the report has no prices."""
    price = np.asarray(getattr(report, "prop_price", np.zeros((0, 3))), dtype=np.float64)
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
to stand (64-stud bathtub #28's best cell: 21)."""

NEAR_BEST_PRICE = 0.5
"""Cells priced at least this share of the best cell's price compete on column length (the
shortest first): a price is a first-order gain per newton, and a column two thirds shorter
that takes half as much off per newton is fewer parts and usually enough (297 shapes: 20%
fewer support cells than the best price alone)."""


RELAY_MIN_MARGIN = -1.0
"""Below this physics margin (stress over twice the capacity) re-lays are skipped for props: a
better bond changes what the studs hold by a small factor, not by several (a 64-stud bathtub's
thin arm at 18x capacity)."""


PROP_MISSES = 2
"""Prop rounds in a row that may fail to lower the stress (each taken out again, its rows not
propped again) before the loop gives up: one more check for a model that stays unstable."""


MAX_EXTRA_PROPS = 4
"""Props added per round beyond ``props_per_round`` when the stress is far over capacity (one
per unit of stress over it): a long thin arm needs several, and every round costs a check."""


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
    support_rounds: int = 12,
    props_per_round: int = 1,
    target_margin: float = 0.0,
) -> Any:
    """Make the model stand with ``target_margin`` to spare (the share of the most loaded stud's
    clutch left unused; 0: just stand): re-lay the weakest region, then prop the weakest parts;
    last report.

    Up to ``rounds`` times the weakest parts and their stud neighbours are re-laid with another
    seed, the other orientation preference and a stronger bonding reward; a re-lay is kept only if
    the physics margin grows and the model stays one piece (the first that does not help ends
    the re-lays; skipped when the stress is far over capacity). Then, up to ``support_rounds``
    times, columns (2x2 where they fit) go down to the part below or the ground, and the model
    is checked again: under the weakest hanging parts, each at the bottom cell farthest from
    where the part rests, one under every separate overloaded spot, then up to
    ``props_per_round`` in all (one more per unit of stress over capacity; see
    :func:`_place_props`). A round that lowers neither the largest stress nor the total excess
    comes out again, and the next stands one column per overloaded spot where the report's
    dual prices say a support takes the most overload off (:func:`_priced_columns`), then the
    guesses again; two such rounds in a row end the loop (the overload sits where no column
    helps). A model that stands but under ``target_margin`` goes through the same rounds, its
    spots the interfaces over ``1 - target_margin`` of capacity. Stops at the deadline; a model
    left under the target margin gets a plain note saying so. Returns the last report (None when
    the physics gave up).

    The prices are not the first choice: their columns are just enough (the stress ends near
    capacity, where the analysis of the next model takes its slowest path: monitor #2268's
    check 0.25 -> 0.8 s) while the guesses overshoot, and on 297 shapes they saved 4 checks of
    320 and 0.06% of the parts.
    """
    report = _check(stability, state, pitch, origin, log_)
    weights = LayerWeights(bond_w=60.0, seam_w=20.0)
    target = float(target_margin)
    for r in range(rounds):
        if _settled(report, deadline, target) or _margin(report) < RELAY_MIN_MARGIN:
            break
        log_.rounds = r + 1
        weak = _weak_rows(state, report)
        if len(weak) == 0:
            break
        region = _neighbours(state, weak)
        before = state.connectivity()
        n_before = state.n_parts
        old_rows = state.rows[region].copy()
        new = _relay(state, region, weights, seed + 7919 * (r + 1), 1 + r, plates_only)
        if state.connectivity().key() > before.key():
            _restore(state, new, old_rows)
            continue
        if report.stable and state.n_parts - n_before > _growth_cap(n_before):
            # a model that stands is not worth many more parts: props are cheaper
            _restore(state, new, old_rows)
            break
        after = _check(stability, state, pitch, origin, log_)
        if after is None or not _better(after, report):
            _restore(state, new, old_rows)
            break  # a re-lay that does not help says the shape, not the bond, is the problem
        log_.relaid_parts += len(region)
        report = after
    spent: set[int] = set()
    misses = 0
    use_prices = False
    for _ in range(support_rounds):
        if _settled(report, deadline, target):
            break
        snap = _Snapshot.of(state, log_)
        n0 = len(log_.support_columns)
        budget = props_per_round + min(int(-_margin(report)), MAX_EXTRA_PROPS)
        spots = _overloaded_spots(state, report, over_stress=1.0 - target if report.stable else 1.0)
        placed: set[int] = set()
        if use_prices:  # one per spot: a second column beside the best mostly shares its load
            columns = _priced_columns(state, report, max(1, len(spots) - 1))
            _lay_supports(state, log_, columns, support_color, plates_only)
        priced = len(log_.support_columns) > n0
        if not priced:
            skip = frozenset(spent)
            placed = _place_props(state, log_, spots, budget, support_color, plates_only, skip)
        if len(log_.support_columns) == n0:
            log_.notes.append("the weakest parts have nothing under them to stand a support on")
            break
        after = _check(stability, state, pitch, origin, log_)
        progress = _progress(report, after, target)
        if after is not None and report.stable and not after.stable:
            progress = -math.inf  # a prop never makes a standing model fall: the check says no
        if progress <= PROGRESS_TOLERANCE:
            # the round's columns come out again (a column under the span of a bridge does
            # nothing for the lever that tips it) and the next round goes the other way
            # (priced columns, or the guesses with new candidates), until PROP_MISSES rounds in
            # a row miss: the overload sits where props cannot reach
            snap.restore(state, log_)
            spent |= placed
            misses += 1
            use_prices = not priced
            if misses < PROP_MISSES:
                continue
            log_.notes.append("supports under the weakest parts did not lower the stress")
            break
        misses = 0
        use_prices = False
        if progress < SMALL_PROGRESS:
            spent |= placed
        log_.stability_supports += 1
        report = after
    log_.stable = None if report is None else bool(report.stable)
    if report is not None:
        log_.margin = _margin(report) if math.isfinite(_margin(report)) else None
        log_.margin_reached = _reached(report, target)
    if report is not None and not report.stable:
        verdict = getattr(report, "verdict", "unstable")
        m = _margin(report)
        log_.notes.append(
            f"still {verdict} after re-lays and supports (margin {m:.3f}"
            + (
                f": the most loaded stud would need {1 - m:.0%} of its clutch)"
                if math.isfinite(m)
                else ")"
            )
        )
    elif report is not None and not log_.margin_reached:
        log_.notes.append(
            f"stands, but the re-lays and supports did not reach the safety margin: the most "
            f"loaded stud uses {1 - _margin(report):.1%} of its clutch, over the "
            f"{1 - target:.0%} allowed"
        )
    return report


STANDING_RELAY_GROWTH = 0.05
"""Share of a standing model's parts a re-lay towards the safety margin may add (a sofa's seat
re-laid in plates: 524 -> 896 parts for a margin a 2x2 column reaches)."""


def _growth_cap(n_parts: int) -> int:
    """Parts a re-lay of a standing model of ``n_parts`` may add (see STANDING_RELAY_GROWTH)."""
    return max(8, int(STANDING_RELAY_GROWTH * n_parts))


def _better(after: Any, before: Any) -> bool:
    """A re-lay helped: the margin grew, and a standing model still stands."""
    if bool(before.stable) and not bool(after.stable):
        return False
    return _margin(after) > _margin(before)


__all__ = [
    "BRIDGE_WEIGHTS",
    "RepairLog",
    "StabilityFn",
    "add_supports",
    "bridge_components",
    "connect",
    "stabilise",
]
