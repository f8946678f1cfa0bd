"""Hollowing a solid grid down to a shell (fewer bricks, same look from outside)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from voxforge.core.errors import ConfigError
from voxforge.core.voxelgrid import VoxelGrid

PLATES_PER_STUD = 3.0
"""On the LEGO lattice one stud of wall thickness counts as one brick (three plates) of floor."""


def shell_distance(occupancy: np.ndarray, lego: bool) -> np.ndarray:
    """(nx, ny, nz) float64: distance of each cell centre to the nearest empty cell centre.

    Units are cells horizontally; vertically a LEGO cell (a plate) counts as 1/3, so a distance of
    K reaches K studs sideways and 3K plates up or down. The grid is padded by one empty cell per
    side first, so the grid border (the bottom included) counts as outside.
    """
    sampling = (1.0, 1.0, 1.0 / PLATES_PER_STUD) if lego else (1.0, 1.0, 1.0)
    padded = np.pad(np.asarray(occupancy, dtype=bool), 1)
    dist = ndimage.distance_transform_edt(padded, sampling=sampling)
    return dist[1:-1, 1:-1, 1:-1]


def hollow(grid: VoxelGrid, thickness: int) -> VoxelGrid:
    """Keep a shell ``thickness`` cells thick and mark the rest as interior.

    Rule: a filled cell stays when its :func:`shell_distance` to the nearest empty cell is at most
    ``thickness``: K studs horizontally and 3K plates vertically on the LEGO lattice (K cells on a
    cubic grid), measured as a Euclidean distance. The bottom is outside too, so the shell closes
    underneath. Cells removed are set in ``grid.interior`` (True), empty in ``occupancy``, and have
    zero colour. Every row and column through the object keeps its first and last cell, so the
    silhouette seen along any axis is unchanged.

    Returns:
        A new grid; ``meta['hollow']`` records the thickness and ``meta['interior_cells']`` the count.
    """
    if thickness < 1:
        raise ConfigError(f"hollow thickness must be at least 1 cell, got {thickness}")
    dist = shell_distance(grid.occupancy, grid.is_lego)
    interior = grid.occupancy & (dist > thickness)
    occupancy = grid.occupancy & ~interior
    if grid.interior is not None:
        interior |= grid.interior
    colors = None
    if grid.colors is not None:
        colors = grid.colors.copy()
        colors[~occupancy] = 0.0
    meta = {**grid.meta, "hollow": int(thickness), "interior_cells": int(interior.sum())}
    return VoxelGrid(
        occupancy=occupancy,
        pitch=grid.pitch,
        origin=grid.origin,
        colors=colors,
        interior=interior,
        meta=meta,
    )
