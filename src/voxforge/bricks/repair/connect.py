"""Connect the pieces of a layout: bridge components that touch, prop up floating ones.

Cheapest change to the model first:

1. **Bridge**: two components that touch side by side in some layer are joined by re-laying that
   layer with a cost that rewards parts touching several components above/below and penalises
   outlines on component boundaries (a part then spans the gap). Kept only when it helps; the
   last try lays plates only, then across colours with one recoloured cell.
2. **Support**: a component with no stud path to the ground gets a column of new cells
   (:mod:`voxforge.bricks.repair.supports`).

:func:`join_shape` / :func:`join_cells` join the separate pieces of a shape before it is laid, by
the shortest paths of new cells between them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import csgraph

from voxforge.bricks.cap import TimeCap
from voxforge.bricks.layout.problem import LayerWeights
from voxforge.bricks.layout.state import SX, SY, Connectivity, H, LayoutState, X, Y, Z
from voxforge.bricks.repair.log import RepairLog
from voxforge.bricks.repair.relay import (
    component_grid,
    relay,
    relay_region,
    restore,
    restored,
    vertical_runs,
    widen_columns,
)
from voxforge.bricks.repair.supports import add_supports, join_standing

BRIDGE_WEIGHTS = LayerWeights(part_cost=100.0, bond_w=80.0, bond_cap=3.0, seam_w=40.0, orient_w=0.0)
"""Re-lay costs for bridging: touching several components beats part count."""


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
        added = widen_columns(added, filled)
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
        runs = vertical_runs(added)
        log_.support_columns += runs
        log_.notes.append(
            f"the shape is in pieces: {int(added.sum())} cells added in {len(runs)} columns to join them"
        )
    return int(added.sum())


def _bridge_levels(state: LayoutState, conn: Connectivity) -> list[int]:
    """Plate levels where different components touch side by side, most contact first."""
    cg = component_grid(state, conn.comp)
    contact = np.zeros(state.shape[2], dtype=np.int64)
    for a, b in ((cg[:-1], cg[1:]), (cg[:, :-1], cg[:, 1:])):
        touch = (a >= 0) & (b >= 0) & (a != b)
        contact += touch.sum(axis=(0, 1))
    levels = np.flatnonzero(contact)
    return [int(z) for z in levels[np.argsort(-contact[levels], kind="stable")]]


def _touching_pairs(state: LayoutState, conn: Connectivity, same_colour: bool = True) -> np.ndarray:
    """(k, 6) int64 ``(x, y, z, axis, main, anchored)`` of side contacts between components (of
    one colour unless ``same_colour`` is False).

    ``axis`` 0 means the pair is (x, y)-(x+1, y), 1 means (x, y)-(x, y+1); ``main`` is 1 when one
    side belongs to the biggest component; ``anchored`` is 1 when both cells have another part
    directly under them (or both over them), so that a 1x2 plate across the contact touches one
    part of each component by studs. Anchored contacts come first, then those of the main piece.
    """
    lab = state.labels
    cg = component_grid(state, conn.comp)
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
    rest = relay_region(state, region, BRIDGE_WEIGHTS, seed, 0, plates_only, True)
    return np.concatenate([first, rest])


def bridge_components(
    state: LayoutState,
    log_: RepairLog,
    seed: int,
    cap: TimeCap,
    max_tries: int = 60,
    plates_only: bool = False,
) -> Connectivity:
    """Join side-by-side components by re-laying the layers where they touch (kept if it helps).

    The work is bounded by ``max_tries`` re-lays (and four or five times as many forced bridges);
    ``cap`` only stops a run that takes far longer than that should.
    """
    conn = state.connectivity()
    tries = 0
    while conn.n_components > 1 and tries < max_tries and not cap.expired("connect"):
        improved = False
        for z in _bridge_levels(state, conn):
            if tries >= max_tries or cap.expired("connect"):
                break
            tries += 1
            # every part crossing the touching level: its cells may be re-laid with other heights
            r = state.rows
            idx = np.flatnonzero(state.alive & (r[:, Z] <= z) & (r[:, Z] + r[:, H] > z))
            old_rows = state.rows[idx].copy()
            new = relay(state, idx, BRIDGE_WEIGHTS, seed + tries, 0, plates_only, use_components=True)
            after = state.connectivity()
            if after.key() < conn.key():
                log_.bridged_layers.append(int(z))
                conn = after
                improved = True
                break
            restore(state, new, old_rows)
            conn = restored(conn, state, idx)
        if not improved:
            break
    # targeted: a 1x2 plate across one side contact, for each contact until one helps; then the
    # same with plates only, since a brick beside the contact spans the levels a stagger needs
    for plates in (plates_only,) if plates_only else (False, True):
        conn, tries = _forced_bridges(state, log_, conn, seed, cap, tries, max_tries, plates)
    if conn.n_components > 1:
        # last: contacts between colours; the joining plate takes the bigger piece's colour
        conn, tries = _forced_bridges(
            state, log_, conn, seed, cap, tries, max_tries, True, recolour=True
        )
    return conn


def _forced_bridges(
    state: LayoutState,
    log_: RepairLog,
    conn: Connectivity,
    seed: int,
    cap: TimeCap,
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
    while conn.n_components > 1 and tries < limit and not cap.expired("connect"):
        improved = False
        sizes = np.bincount(conn.comp[conn.comp >= 0])
        for pair in _touching_pairs(state, conn, same_colour=not recolour)[:max_tries]:
            if cap.expired("connect"):
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
            restore(state, new, old_rows)
            for c, (code, cidx) in zip(cells, old_code, strict=True):
                state.code[c], state.cidx[c] = code, cidx
            conn = restored(conn, state, idx)
        if not improved:
            break
    return conn, tries


def connect(
    state: LayoutState,
    log_: RepairLog,
    seed: int,
    support_color: int,
    cap: TimeCap,
    plates_only: bool = False,
) -> Connectivity:
    """Bridge side-by-side components, support whatever still floats, then join pieces standing
    apart by columns across the gaps between them; says why if it fails."""
    conn = bridge_components(state, log_, seed, cap, plates_only=plates_only)
    if conn.n_floating:
        conn = add_supports(state, log_, support_color, plates_only=plates_only)
        if conn.n_components > 1:
            conn = bridge_components(state, log_, seed + 101, cap, max_tries=20, plates_only=plates_only)
    if not conn.n_floating and conn.n_components > 1:
        conn = join_standing(state, log_, support_color, plates_only=plates_only)
    if conn.n_floating:
        log_.notes.append(f"{conn.n_floating} parts still float after bridging and supports")
    elif conn.n_components > 1:
        log_.notes.append(
            f"{conn.n_components} separate pieces stand on the ground; the shape does not join them "
            "(a baseplate does)"
        )
    return conn
