"""Numba kernels of the per-layer brick layout: candidate placements, their costs, greedy selection.

One *layer problem* is a 2-D slice of the lattice at plate level ``z``: the cells whose part starts at
``z``. Each cell carries a height bit mask (``hbits``: 1 = a plate may start here, 2 = a brick may
start here), a colour index, the label of the part below (for bonding and seams) and the label of
the part above (only known when an existing layout is re-laid). A candidate is a catalogue
footprint at a position whose cells all allow its height and share one colour; its cost follows
the set-cover view of layout: every part costs ``part_cost``, touching several distinct parts below
(or above) earns ``bond_w`` each, every unit edge of its outline lying on a seam of the layer below
costs ``seam_w``, and a long side along the course's preferred axis earns ``orient_w``.

Parts join only through studs on cells stacked vertically, so a cell with no filled cell directly
above or below the part that covers it (a *dead* cell: the far end of a ledge, a corner standing
beside the rest) can only be held by a part that also covers a *live* cell. A candidate made only
of dead cells would be a separate piece: it costs ``isolated_w`` more. The number of dead cells of
each candidate is returned too, so that the greedy order can take the candidates that carry dead
cells on live ones before those live cells go to other parts.
"""

from __future__ import annotations

import numpy as np
from numba import njit

PLATE_BIT = 1
BRICK_BIT = 2


@njit(cache=True)
def _prefix(a: np.ndarray) -> np.ndarray:
    """(nx+1, ny+1) int32 inclusive 2-D prefix sums of an (nx, ny) 0/1 array."""
    nx, ny = a.shape
    p = np.zeros((nx + 1, ny + 1), dtype=np.int32)
    for i in range(nx):
        run = 0
        for j in range(ny):
            run += a[i, j]
            p[i + 1, j + 1] = p[i, j + 1] + run
    return p


@njit(cache=True)
def _box_sum(p: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> int:
    return p[x1, y1] - p[x0, y1] - p[x1, y0] + p[x0, y0]


@njit(cache=True)
def _distinct_count(vals: np.ndarray, n: int) -> int:
    """Number of distinct non-negative values among ``vals[:n]`` (n <= 32, so quadratic is fine)."""
    count = 0
    for i in range(n):
        v = vals[i]
        if v < 0:
            continue
        seen = False
        for j in range(i):
            if vals[j] == v:
                seen = True
                break
        if not seen:
            count += 1
    return count


@njit(cache=True)
def _seam(lab: np.ndarray, ax: int, ay: int, bx: int, by: int) -> int:
    """1 when cells a and b are both filled in ``lab`` by different parts (a seam between them)."""
    a = lab[ax, ay]
    b = lab[bx, by]
    return 1 if (a >= 0 and b >= 0 and a != b) else 0


@njit(cache=True)
def layer_candidates(
    hbits: np.ndarray,
    color: np.ndarray,
    below: np.ndarray,
    above: np.ndarray,
    fps: np.ndarray,
    avail: np.ndarray,
    weights: np.ndarray,
    pref_axis: int,
    live_p: np.ndarray,
    live_b: np.ndarray,
):
    """All valid candidate placements of one layer and their costs.

    Args:
        hbits: (nx, ny) uint8 height bits per cell (0 = nothing to lay).
        color: (nx, ny) int32 colour index per cell (meaningful where ``hbits > 0``).
        below, above: (nx, ny) int32 labels of the parts under / over each cell, -1 for none.
        fps: (k, 4) int64 footprints ``(sx, sy, h, part_index)``, both orientations listed.
        avail: (k, n_colors) bool, whether footprint k is made in colour index c.
        weights: (6,) float64 ``part_cost, bond_w, bond_cap, seam_w, orient_w, isolated_w``.
        pref_axis: 0 when long sides along x are preferred in this course, 1 for y.
        live_p, live_b: (nx, ny) int32 1 where a plate / a brick starting on the cell would have a
            filled cell directly below or above it (the ground does not count: it joins nothing).

    Returns:
        cx, cy, fp (m,) int64 position and footprint row; cost (m,) float64 (lower is better);
        dead (m,) int64 cells of the candidate with no filled cell under or over it.
    """
    nx, ny = hbits.shape
    part_cost, bond_w, bond_cap, seam_w, orient_w = (
        weights[0],
        weights[1],
        weights[2],
        weights[3],
        weights[4],
    )
    isolated_w = weights[5]
    plate_ok = np.zeros((nx, ny), dtype=np.int32)
    brick_ok = np.zeros((nx, ny), dtype=np.int32)
    for i in range(nx):
        for j in range(ny):
            plate_ok[i, j] = 1 if (hbits[i, j] & PLATE_BIT) else 0
            brick_ok[i, j] = 1 if (hbits[i, j] & BRICK_BIT) else 0
    # colour changes between x-neighbours (stored at the lower cell) and y-neighbours
    dx = np.zeros((nx, ny), dtype=np.int32)
    dy = np.zeros((nx, ny), dtype=np.int32)
    for i in range(nx - 1):
        for j in range(ny):
            dx[i, j] = 1 if color[i, j] != color[i + 1, j] else 0
    for i in range(nx):
        for j in range(ny - 1):
            dy[i, j] = 1 if color[i, j] != color[i, j + 1] else 0
    pp = _prefix(plate_ok)
    pb = _prefix(brick_ok)
    pdx = _prefix(dx)
    pdy = _prefix(dy)
    plp = _prefix(live_p)
    plb = _prefix(live_b)

    cap = nx * ny * fps.shape[0]
    cx = np.empty(cap, dtype=np.int64)
    cy = np.empty(cap, dtype=np.int64)
    cf = np.empty(cap, dtype=np.int64)
    cost = np.empty(cap, dtype=np.float64)
    dead = np.empty(cap, dtype=np.int64)
    vals = np.empty(64, dtype=np.int64)
    m = 0
    for k in range(fps.shape[0]):
        sx, sy, h = fps[k, 0], fps[k, 1], fps[k, 2]
        if sx > nx or sy > ny:
            continue
        pref = 0.0
        if sx != sy:
            long_axis = 0 if sx > sy else 1
            if long_axis == pref_axis:
                pref = 1.0
        ok = pb if h == 3 else pp
        live = plb if h == 3 else plp
        area = sx * sy
        for x in range(nx - sx + 1):
            for y in range(ny - sy + 1):
                if _box_sum(ok, x, y, x + sx, y + sy) != area:
                    continue
                if sx > 1 and _box_sum(pdx, x, y, x + sx - 1, y + sy) != 0:
                    continue
                if sy > 1 and _box_sum(pdy, x, y, x + sx, y + sy - 1) != 0:
                    continue
                if not avail[k, color[x, y]]:
                    continue
                n = 0
                for i in range(x, x + sx):
                    for j in range(y, y + sy):
                        vals[n] = below[i, j]
                        vals[n + 1] = above[i, j]
                        n += 2
                bond = _distinct_count(vals, n)
                if bond > bond_cap:
                    bond = int(bond_cap)
                seam = 0
                for j in range(y, y + sy):
                    if x > 0:
                        seam += _seam(below, x - 1, j, x, j)
                    if x + sx < nx:
                        seam += _seam(below, x + sx - 1, j, x + sx, j)
                for i in range(x, x + sx):
                    if y > 0:
                        seam += _seam(below, i, y - 1, i, y)
                    if y + sy < ny:
                        seam += _seam(below, i, y + sy - 1, i, y + sy)
                n_live = _box_sum(live, x, y, x + sx, y + sy)
                extra = isolated_w if n_live == 0 else 0.0
                dead[m] = area - n_live
                cx[m] = x
                cy[m] = y
                cf[m] = k
                cost[m] = part_cost - bond_w * bond + seam_w * seam - orient_w * pref + extra
                m += 1
    return cx[:m], cy[:m], cf[:m], cost[:m], dead[:m]


@njit(cache=True)
def _window_free(free: np.ndarray, x: int, y: int, sx: int, sy: int) -> bool:
    for i in range(x, x + sx):
        for j in range(y, y + sy):
            if not free[i, j]:
                return False
    return True


@njit(cache=True)
def _is_free(free: np.ndarray, i: int, j: int, x: int, y: int, sx: int, sy: int) -> bool:
    """Cell (i, j) is free and not inside the window about to be taken."""
    if i < 0 or j < 0 or i >= free.shape[0] or j >= free.shape[1]:
        return False
    if x <= i < x + sx and y <= j < y + sy:
        return False
    return free[i, j]


@njit(cache=True)
def _orphans(free: np.ndarray, x: int, y: int, sx: int, sy: int) -> int:
    """Free cells next to the window that taking it would cut off from every free neighbour."""
    count = 0
    ring_x = np.empty(2 * (sx + sy), dtype=np.int64)
    ring_y = np.empty(2 * (sx + sy), dtype=np.int64)
    n = 0
    for i in range(x, x + sx):
        ring_x[n], ring_y[n] = i, y - 1
        ring_x[n + 1], ring_y[n + 1] = i, y + sy
        n += 2
    for j in range(y, y + sy):
        ring_x[n], ring_y[n] = x - 1, j
        ring_x[n + 1], ring_y[n + 1] = x + sx, j
        n += 2
    for r in range(n):
        i, j = ring_x[r], ring_y[r]
        if not _is_free(free, i, j, x, y, sx, sy):
            continue
        if (
            _is_free(free, i - 1, j, x, y, sx, sy)
            or _is_free(free, i + 1, j, x, y, sx, sy)
            or _is_free(free, i, j - 1, x, y, sx, sy)
            or _is_free(free, i, j + 1, x, y, sx, sy)
        ):
            continue
        count += 1
    return count


@njit(cache=True)
def greedy_select(
    free: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    csx: np.ndarray,
    csy: np.ndarray,
    order: np.ndarray,
) -> np.ndarray:
    """Pick non-overlapping candidates in ``order`` (best first) until ``free`` is covered.

    One step of look-ahead: a multi-cell candidate that would leave a free neighbour cell with no
    free neighbour of its own (so only a 1x1 could fill it) is deferred to a second pass; 1x1
    candidates come last. ``free`` ((nx, ny) bool) is modified in place.

    Returns:
        (s,) int64 indices into the candidate arrays of the chosen candidates.
    """
    chosen = np.empty(len(order), dtype=np.int64)
    deferred = np.empty(len(order), dtype=np.int64)
    nc = 0
    nd = 0
    for t in range(len(order)):
        c = order[t]
        sx, sy = csx[c], csy[c]
        if sx * sy == 1:
            continue
        if not _window_free(free, cx[c], cy[c], sx, sy):
            continue
        if _orphans(free, cx[c], cy[c], sx, sy) > 0:
            deferred[nd] = c
            nd += 1
            continue
        free[cx[c] : cx[c] + sx, cy[c] : cy[c] + sy] = False
        chosen[nc] = c
        nc += 1
    for t in range(nd):
        c = deferred[t]
        sx, sy = csx[c], csy[c]
        if _window_free(free, cx[c], cy[c], sx, sy):
            free[cx[c] : cx[c] + sx, cy[c] : cy[c] + sy] = False
            chosen[nc] = c
            nc += 1
    for t in range(len(order)):
        c = order[t]
        if csx[c] * csy[c] != 1:
            continue
        if free[cx[c], cy[c]]:
            free[cx[c], cy[c]] = False
            chosen[nc] = c
            nc += 1
    return chosen[:nc]
