"""The non-learned completion baseline: mirror symmetry about a vertical plane, then hole filling.

Furniture and most hand-scanned objects are mirror-symmetric about some vertical plane. The plane
is searched over its angle (every ``angle_step_deg``) and its offset (every ``offset_step`` cells
up to ``max_offset``) from the partial's centroid; each candidate reflects the observed cells and
scores ``agree + unseen_weight * unseen - empty_weight * contradict``: reflected cells landing on
observed cells agree, those landing in space nobody saw are plausible (weighted a little above
agreement, so that a plane mapping the seen side onto the unseen one wins over a plane mapping
the seen side onto itself), those landing on known-empty cells or outside the grid contradict.
The best plane's reflection, minus the known-empty cells, joins the observed cells; the cells
between filled cells along an axis that are not known empty and the enclosed cavities finish the
solid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class MirrorPlane:
    """A vertical plane: unit normal (cos a, sin a, 0) through ``point`` (grid cell units)."""

    angle_deg: float
    point: tuple[float, float]
    score: float


def _reflect(cells: np.ndarray, angle: float, point: np.ndarray) -> np.ndarray:
    n = np.array([np.cos(angle), np.sin(angle)])
    centres = cells[:, :2] + 0.5
    dist = (centres - point) @ n
    out = cells.copy()
    out[:, :2] = np.floor(centres - 2.0 * dist[:, None] * n[None]).astype(np.int64)
    return out


def best_mirror_plane(
    partial: np.ndarray,
    known_empty: np.ndarray,
    *,
    angle_step_deg: float = 5.0,
    offset_step: float = 0.5,
    max_offset: float = 10.0,
    empty_weight: float = 2.0,
    unseen_weight: float = 1.1,
) -> MirrorPlane | None:
    """The vertical mirror plane that best explains the observed cells (None when nothing is seen)."""
    cells = np.argwhere(partial)
    if len(cells) == 0:
        return None
    shape = np.array(partial.shape)
    centroid = cells[:, :2].mean(axis=0) + 0.5
    centres = cells[:, :2] + 0.5
    offsets = np.arange(-max_offset, max_offset + 1e-9, offset_step)
    best: MirrorPlane | None = None
    for angle in np.radians(np.arange(0.0, 180.0, angle_step_deg)):
        n = np.array([np.cos(angle), np.sin(angle)])
        dist = (centres - centroid) @ n  # (c,)
        # reflections of every cell for every offset: (o, c, 2)
        shift = 2.0 * (dist[None, :] - offsets[:, None])
        xy = np.floor(centres[None] - shift[..., None] * n).astype(np.int64)
        inside = np.all((xy >= 0) & (xy < shape[:2]), axis=2)
        x = np.where(inside, xy[..., 0], 0)
        y = np.where(inside, xy[..., 1], 0)
        z = np.broadcast_to(cells[:, 2], x.shape)
        agree = np.count_nonzero(partial[x, y, z] & inside, axis=1)
        contra = np.count_nonzero(known_empty[x, y, z] & inside, axis=1)
        outside = np.count_nonzero(~inside, axis=1)
        unseen = len(cells) - agree - contra - outside
        scores = (agree + unseen_weight * unseen - empty_weight * (contra + outside)) / len(cells)
        k = int(np.argmax(scores))
        if best is None or scores[k] > best.score + 1e-12:
            point = centroid + offsets[k] * n
            best = MirrorPlane(float(np.degrees(angle)), (float(point[0]), float(point[1])),
                               float(scores[k]))  # fmt: skip
    return best


def _between(grid: np.ndarray, axis: int) -> np.ndarray:
    """Cells with a filled cell on both sides along ``axis`` (or filled themselves)."""
    ahead = np.maximum.accumulate(grid, axis=axis)
    behind = np.flip(np.maximum.accumulate(np.flip(grid, axis), axis=axis), axis)
    return ahead & behind


def fill_holes(grid: np.ndarray, known_empty: np.ndarray | None = None) -> np.ndarray:
    """Fill the cells a solid would hold: cells not known to be empty that lie between filled
    cells along some axis, and enclosed cavities."""
    grid = np.asarray(grid, dtype=bool)
    free = np.zeros_like(grid) if known_empty is None else np.asarray(known_empty, dtype=bool)
    between = _between(grid, 0) | _between(grid, 1) | _between(grid, 2)
    out = ndimage.binary_fill_holes(grid | (between & ~free))
    return out & (~free | grid)


def mirror_complete(
    partial: np.ndarray, known_empty: np.ndarray, **search: float
) -> tuple[np.ndarray, MirrorPlane | None]:
    """Complete a partial grid by its best vertical mirror plane plus hole filling.

    Returns the (R, R, R) bool completion and the plane (None for an empty partial, which stays
    empty).
    """
    partial = np.asarray(partial, dtype=bool)
    known_empty = np.asarray(known_empty, dtype=bool)
    plane = best_mirror_plane(partial, known_empty, **search)
    if plane is None:
        return partial.copy(), None
    cells = np.argwhere(partial)
    ref = _reflect(cells, np.radians(plane.angle_deg), np.array(plane.point))
    ref = ref[np.all((ref >= 0) & (ref < np.array(partial.shape)), axis=1)]
    out = partial.copy()
    out[ref[:, 0], ref[:, 1], ref[:, 2]] = True
    out &= ~known_empty | partial
    return fill_holes(out, known_empty), plane
