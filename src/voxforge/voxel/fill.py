"""Filling surface grids: solid fill, hole-closing fill for open surfaces, extending to the base.

All fills work the same way: pad the grid by empty cells, flood the empty space from the border
with 6-connectivity (faces only, so a surface sealed along edges and corners does not leak), and
call everything the flood did not reach "inside".
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_SIX = ndimage.generate_binary_structure(3, 1)
_CUBE = ndimage.generate_binary_structure(3, 3)


def outside(occupancy: np.ndarray, pad: int = 1) -> np.ndarray:
    """(nx, ny, nz) bool: empty cells reachable from outside the grid through empty cells.

    The grid is padded by ``pad`` empty cells per side so the outside surrounds the object even
    where it touches the grid border; reachability is 6-connected.
    """
    empty = np.pad(~np.asarray(occupancy, dtype=bool), pad, constant_values=True)
    labels, _ = ndimage.label(empty, structure=_SIX)
    reached = labels == labels[0, 0, 0]
    sl = tuple(slice(pad, pad + s) for s in occupancy.shape)
    return reached[sl]


def fill_solid(surface: np.ndarray) -> np.ndarray:
    """(nx, ny, nz) bool: the surface plus every cell it encloses (for watertight surfaces).

    A leaky surface simply stays a shell where the outside flows in; use :func:`fill_enclosed`.
    """
    return ~outside(surface)


def fill_enclosed(surface: np.ndarray, close_iterations: int = 1) -> np.ndarray:
    """Fill an open surface (point cloud, open mesh): close small holes, then fill what is enclosed.

    The holes are sealed on a *copy*: a morphological closing (dilate then erode with the 3x3x3
    cube, ``close_iterations`` times each) bridges gaps up to about ``2 * close_iterations`` cells.
    The flood from outside runs on the closed copy, but closing never enlarges the result:

    - the *cavity* is what the closed copy encloses that closing itself did not fill;
    - cells closing added form 6-connected groups (with the cavity). A group is kept when it holds
      cavity (hole plugs and the inside near the walls) or never touches the outside (inside
      that the surface encloses by itself). A group that touches the outside and holds no cavity
      is an outer groove or corner that closing smoothed over, and is dropped.

    So the answer is the original surface, the cavity, the plugs and what the surface encloses.
    A consequence, on purpose: an opening as wide as the space behind it (a cup's mouth) leaves
    no cavity and is not filled; in general a hole is plugged only when the space behind it is
    wider than about ``2 * close_iterations`` cells.

    Args:
        surface: (nx, ny, nz) bool surface cells.
        close_iterations: closing steps; 0 fills only what the surface already seals.

    Returns:
        (nx, ny, nz) bool filled occupancy, a superset of ``surface`` within its silhouette.
    """
    surface = np.asarray(surface, dtype=bool)
    if close_iterations <= 0:
        return fill_solid(surface)
    pad = close_iterations + 1
    padded = np.pad(surface, pad)
    closed = ndimage.binary_closing(padded, structure=_CUBE, iterations=close_iterations)
    sl = tuple(slice(pad, pad + s) for s in surface.shape)
    closed = closed[sl] | surface
    # Work padded by one empty cell so the space beyond the grid border counts as outside.
    closed = np.pad(closed, 1)
    out = np.pad(outside(closed[1:-1, 1:-1, 1:-1]), 1, constant_values=True)
    cavity = ~out & ~closed
    added = closed & ~np.pad(surface, 1)
    labels, n = ndimage.label(added | cavity, structure=_SIX)
    has_cavity = np.zeros(n + 1, dtype=bool)
    has_cavity[labels[cavity]] = True
    touches_outside = np.zeros(n + 1, dtype=bool)
    touches_outside[labels[ndimage.binary_dilation(out, structure=_SIX) & (labels > 0)]] = True
    keep = has_cavity | ~touches_outside
    keep[0] = False
    return surface | keep[labels[1:-1, 1:-1, 1:-1]]


def extend_to_base(occupancy: np.ndarray) -> np.ndarray:
    """Extend a partial scan's open bottom down to the base (z = 0).

    Rule: within the footprint, the top view of the object with its enclosed 2-D holes filled,
    every (x, y) column is filled from z = 0 up to its lowest occupied cell; a footprint column
    with no cell at all (inside a ring of walls) gets only its z = 0 cell, a floor. So walls that
    stop short of the ground reach it, the floor under the object is closed, and overhangs become
    solid down to the base, which is what a model standing on a table needs anyway.

    Args:
        occupancy: (nx, ny, nz) bool.

    Returns:
        (nx, ny, nz) bool, a superset of ``occupancy``.
    """
    occ = np.asarray(occupancy, dtype=bool)
    any_z = occ.any(axis=2)
    footprint = ndimage.binary_fill_holes(any_z)
    lowest = np.where(any_z, np.argmax(occ, axis=2), 0)
    z = np.arange(occ.shape[2])
    below = (z[None, None, :] <= lowest[:, :, None]) & footprint[:, :, None]
    return occ | below
