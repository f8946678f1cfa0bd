"""Join the pieces of a predicted occupancy along its most probable paths.

A network's occupancy probabilities can dip below the threshold across a thin part (a chair's
seat over a slim stem, a table top over its legs), and the object then comes out in pieces: a
seat floating above its legs, which no printer, viewer or brick builder wants. A real object is
one piece. :func:`join_pieces` keeps the prediction and adds, for each smaller piece, the
shortest face-connected path of cells to the largest piece through the most probable cells
there are: the highest probability level ``t`` at which the two are connected, down to
``floor``, decides which cells may carry the path. The path's cells, and their neighbours at that
level, are raised above the threshold, so the grid and the marching-cubes surface of the
probabilities both show a strut.

A piece that no path above ``floor`` reaches (the network saw nothing between: chair legs
predicted a few cells below their seat) is bridged with ``bridge``: the shortest face-connected
path through any cells, only the path raised, a strut one cell thick (a leg straight under the
seat gets a straight one). A piece of fewer than ``speck`` cells that no probable path reaches is
dropped instead (below the threshold): a stray cell or two is noise, not a part worth a strut
across the grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

_SIX = ndimage.generate_binary_structure(3, 1)

CORE = 0.9
"""Probability a path cell is raised to: marching cubes then runs between the path and its
neighbours, a strut about two cells thick rather than a thread along the path's centre line."""
RAISE = 0.05
"""How far above the threshold the path's face neighbours (at the path's probability level) are
raised: they widen the strut where the network saw something."""


@dataclass(frozen=True)
class JoinReport:
    """What :func:`join_pieces` did: ``pieces`` before, ``joined`` of them joined to the largest
    through probable cells, ``cells`` raised to carry all paths, ``lowest`` probability level a
    probable path needed (None when none was joined that way), ``bridged`` pieces joined through
    unseen cells and ``dropped`` specks."""

    pieces: int
    joined: int
    cells: int
    lowest: float | None
    bridged: int = 0
    dropped: int = 0


def join_pieces(
    prob: np.ndarray,
    threshold: float,
    floor: float = 0.1,
    step: float = 0.025,
    *,
    bridge: bool = True,
    speck: int = 3,
) -> tuple[np.ndarray, JoinReport]:
    """(probabilities with the joining paths raised above ``threshold``, report).

    Args:
        prob: (nx, ny, nz) occupancy probabilities.
        threshold: a cell is occupied at ``prob >= threshold``.
        floor: the lowest probability a path may run through.
        step: probability levels tried between ``threshold`` and ``floor``.
        bridge: join the pieces no path above ``floor`` reaches through any cells (else they
            stay apart).
        speck: with ``bridge``, such pieces of fewer cells are dropped instead.
    """
    p = np.asarray(prob, dtype=np.float32)
    labels, n = ndimage.label(p >= threshold, structure=_SIX)
    if n <= 1:
        return p, JoinReport(n, 0, 0, None)
    sizes = np.bincount(labels.ravel())[1:]
    order = np.argsort(-sizes, kind="stable") + 1
    out = p.copy()
    main = labels == order[0]
    levels = np.round(np.arange(threshold - step, floor - 1e-9, -step), 6)
    joined, cells, lowest = 0, 0, None
    unreached = []
    for piece_label in order[1:]:
        piece = labels == piece_label
        if main[piece].any():  # an earlier path ran through it
            continue
        unreached.append(piece)
        for t in levels:
            allowed = (out >= t) | main | piece
            comp, _ = ndimage.label(allowed, structure=_SIX)
            ids = np.unique(comp[piece])
            if not np.isin(ids, comp[main]).any():
                continue
            path = _shortest_path(piece, main, allowed)
            # a strut, not a thread: the path's cells well above the threshold, its face
            # neighbours at that level just above it
            ring = ndimage.binary_dilation(path, structure=_SIX) & allowed & ~path
            new = (path | ring) & (out < threshold)
            out[ring] = np.maximum(out[ring], threshold + RAISE)
            out[path] = np.maximum(out[path], CORE)
            cells += int(new.sum())
            main = _grown(main | path | piece, out >= threshold)
            joined += 1
            lowest = float(t) if lowest is None else min(lowest, float(t))
            unreached.pop()
            break
    bridged = dropped = 0
    for piece in unreached if bridge else []:
        if main[piece].any():  # a later probable path ran through it
            continue
        if int(piece.sum()) < speck:
            out[piece] = np.minimum(out[piece], np.nextafter(np.float32(threshold), np.float32(0)))
            dropped += 1
            continue
        path = _shortest_path(piece, main, np.ones_like(piece))
        cells += int((path & (out < threshold)).sum())
        out[path] = np.maximum(out[path], CORE)
        main = _grown(main | path | piece, out >= threshold)
        bridged += 1
    return out, JoinReport(n, joined, cells, lowest, bridged, dropped)


def _grown(seed: np.ndarray, occupied: np.ndarray) -> np.ndarray:
    """The occupied cells face-connected to ``seed`` (pieces a path touched join the main one)."""
    comp, _ = ndimage.label(occupied | seed, structure=_SIX)
    return np.isin(comp, np.unique(comp[seed]))


def _shortest_path(src: np.ndarray, dst: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """(nx, ny, nz) bool cells of a shortest face-connected path from ``src`` to ``dst`` within
    ``allowed`` (both ends included; they must be connected there)."""
    dist = np.full(src.shape, -1, dtype=np.int32)
    dist[src] = 0
    front, d = src.copy(), 0
    while not (front & dst).any():
        nxt = ndimage.binary_dilation(front, structure=_SIX) & allowed & (dist < 0)
        if not nxt.any():
            raise ValueError("src and dst are not connected within allowed")
        d += 1
        dist[nxt] = d
        front = nxt
    path = np.zeros(src.shape, dtype=bool)
    cell = tuple(int(v) for v in np.argwhere(front & dst)[0])
    path[cell] = True
    offsets = np.argwhere(_SIX) - 1
    offsets = offsets[np.abs(offsets).sum(axis=1) == 1]
    shape = np.array(src.shape)
    while d > 0:
        for o in offsets:
            q = np.array(cell) + o
            if (q >= 0).all() and (q < shape).all() and dist[tuple(q)] == d - 1:
                cell = tuple(int(v) for v in q)
                break
        path[cell] = True
        d -= 1
    return path
