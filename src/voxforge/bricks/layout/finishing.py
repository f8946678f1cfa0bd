"""Finishing passes: swap box parts for tiles and slopes without changing the shape.

Both passes only ever replace a part by another of the *same box* (same cells), so
``model.occupancy()`` is unchanged, and only where nothing sits on the part, so no stud contact is
lost (tiles have no studs, slopes keep only their high row; see ``connectivity.stud_mask``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from voxforge.bricks.catalogue import Part, parts_of_kind
from voxforge.core.brickmodel import BrickModel, Placement

ColorCheck = Callable[[str, int], bool]
"""``ok(part_key, ldraw_colour) -> bool``: is the part made in this colour."""


def _always(key: str, color: int) -> bool:
    return True


def _uncovered(labels: np.ndarray, p: Placement) -> bool:
    """Nothing is on top of any cell of ``p`` (or it reaches the top of the grid)."""
    top = p.z + p.h
    if top >= labels.shape[2]:
        return True
    return bool((labels[p.x : p.x + p.sx, p.y : p.y + p.sy, top] < 0).all())


def finish_tiles(model: BrickModel, color_ok: ColorCheck | None = None) -> tuple[BrickModel, int]:
    """Replace plates with nothing on top by the tile of the same footprint (1x1, 1x2, 2x2).

    Returns the new model and the number of parts replaced.
    """
    ok = color_ok or _always
    tiles = {(t.width, t.length): t for t in parts_of_kind("tile", 1)}
    labels = model.label_grid()
    out, n = [], 0
    for p in model.placements:
        tile = tiles.get(tuple(sorted((p.sx, p.sy))))
        if p.h == 1 and p.part != (tile.key if tile else None) and tile is not None:
            if _uncovered(labels, p) and ok(tile.key, p.color):
                rotation = 0 if p.sx == tile.length else 1
                out.append(replace(p, part=tile.key, rotation=rotation))
                n += 1
                continue
        out.append(p)
    return BrickModel(out, model.shape, model.pitch.copy(), model.origin.copy(), dict(model.meta)), n


def _slope_footprint(s: Part, rotation: int) -> tuple[int, int]:
    """(sx, sy) of slope ``s`` at ``rotation``: the fall direction carries its length."""
    return (s.length, s.width) if rotation % 2 == 0 else (s.width, s.length)


def _low_side(labels: np.ndarray, p: Placement, rotation: int) -> bool:
    """The neighbour band on the falling side is one brick lower: empty beside ``p``, filled under.

    Rotation 0 falls toward +x, 1 toward +y, 2 toward -x, 3 toward -y (``Placement`` docs).
    """
    nx, ny, _ = labels.shape
    if p.z == 0:
        return False
    x0, y0, x1, y1 = p.x, p.y, p.x + p.sx, p.y + p.sy
    if rotation == 0:
        band = (slice(x1, x1 + 1), slice(y0, y1)) if x1 < nx else None
    elif rotation == 1:
        band = (slice(x0, x1), slice(y1, y1 + 1)) if y1 < ny else None
    elif rotation == 2:
        band = (slice(x0 - 1, x0), slice(y0, y1)) if x0 > 0 else None
    else:
        band = (slice(x0, x1), slice(y0 - 1, y0)) if y0 > 0 else None
    if band is None:
        return False
    beside = labels[band[0], band[1], p.z : p.z + p.h]
    under = labels[band[0], band[1], p.z - 1]
    return bool((beside < 0).all() and (under >= 0).all())


def finish_slopes(model: BrickModel, color_ok: ColorCheck | None = None) -> tuple[BrickModel, int]:
    """Replace uncovered bricks at a one-brick step down by the slope of the same box.

    A brick qualifies when nothing is on it, the cells beside one of its sides are empty for its
    whole height and filled just below (the neighbouring column is one brick lower), and a slope
    with its footprint falling that way exists in its colour. Returns the new model and the count.
    """
    ok = color_ok or _always
    slopes = parts_of_kind("slope")
    labels = model.label_grid()
    out, n = [], 0
    for p in model.placements:
        swapped = None
        if p.h == 3 and _uncovered(labels, p):
            for s in slopes:
                if s.height != p.h or not ok(s.key, p.color):
                    continue
                for rotation in range(4):
                    if _slope_footprint(s, rotation) == (p.sx, p.sy) and _low_side(labels, p, rotation):
                        swapped = replace(p, part=s.key, rotation=rotation)
                        break
                if swapped is not None:
                    break
        if swapped is not None:
            out.append(swapped)
            n += 1
        else:
            out.append(p)
    return BrickModel(out, model.shape, model.pitch.copy(), model.origin.copy(), dict(model.meta)), n
