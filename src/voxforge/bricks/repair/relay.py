"""Re-laying part of a layout: take parts out of a region and lay its cells again with other
weights, and put them back when the change does not help.
"""

from __future__ import annotations

import numpy as np

from voxforge.bricks.layout.kernels import BRICK_BIT, PLATE_BIT
from voxforge.bricks.layout.problem import LayerWeights
from voxforge.bricks.layout.state import SX, SY, Connectivity, H, LayoutState, X, Y, Z
from voxforge.bricks.layout.strategies import LAYOUT_STRATEGIES


def widen_columns(cells: np.ndarray, occ: np.ndarray) -> np.ndarray:
    """Grow every vertical run of ``cells`` to a 2x2 column where the four columns are empty.

    A wider support holds more studs (stronger) and lays as 2x2 bricks instead of 1x1s. Runs
    whose every 2x2 neighbourhood meets ``occ`` stay 1x1. Returns the grown (nx, ny, nz) bool mask.
    """
    out = cells.copy()
    nx, ny, _ = cells.shape
    for x, y, z0, z1 in vertical_runs(cells):
        for dx, dy in ((0, 0), (-1, 0), (0, -1), (-1, -1)):
            x0, y0 = x + dx, y + dy
            if x0 < 0 or y0 < 0 or x0 + 2 > nx or y0 + 2 > ny:
                continue
            box = (slice(x0, x0 + 2), slice(y0, y0 + 2), slice(z0, z1))
            if not (occ[box] & ~cells[box]).any():
                out[box] = True
                break
    return out


def vertical_runs(cells: np.ndarray) -> list[tuple[int, int, int, int]]:
    """``(x, y, z0, z1)`` of each maximal vertical run of ``cells`` ((nx, ny, nz) bool)."""
    pad = np.zeros((*cells.shape[:2], 1), dtype=bool)
    d = np.diff(np.concatenate([pad, cells, pad], axis=2).astype(np.int8), axis=2)
    sx, sy, sz = np.nonzero(d == 1)
    ez = np.nonzero(d == -1)[2]
    # both lists are in C order of (x, y, z), so the i-th start pairs with the i-th end
    return [(int(x), int(y), int(a), int(b)) for x, y, a, b in zip(sx, sy, sz, ez, strict=True)]


def component_grid(state: LayoutState, comp: np.ndarray) -> np.ndarray:
    """(nx, ny, nz) int64 component label per cell, -1 where empty."""
    lab = state.labels
    return np.where(lab >= 0, comp[np.maximum(lab, 0)], -1)


def relay(
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
    return relay_region(state, region, weights, seed, pref_flip, plates_only, use_components)


def relay_region(
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
        grid = component_grid(state, state.connectivity().comp).astype(np.int32)
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


def restore(state: LayoutState, new: np.ndarray, old_rows: np.ndarray) -> None:
    state.remove(new)
    state.add(old_rows)


def restored(conn: Connectivity, state: LayoutState, idx: np.ndarray) -> Connectivity:
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
