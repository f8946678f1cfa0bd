"""The closed surface of an occupancy grid (reconstruction and generation outputs)."""

from __future__ import annotations

import numpy as np


def occupancy_surface(prob: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed surface of a (s, s, s) probability grid at ``level``.

    The grid is padded with one empty cell per side so every surface closes (watertight). Values
    within 0.01 of the level are pushed to 0.01 off it first: a grid value at the level puts the
    vertices of all its edges on one point, and the sliver triangles collapse when a file format
    stores float32 (STL), which would open holes in the written mesh. Lorensen's table (not
    Lewiner's) because its faces always close: with tied values (a saturated or binary field)
    Lewiner's ambiguity resolution can make edges shared by four triangles.

    Returns:
        vertices (n, 3) float64 in the grid's unit cube ``[-0.5, 0.5]^3`` (cell ``i`` centred at
        ``(i + 0.5) / s - 0.5``); faces (m, 3) int64, counter-clockwise seen from outside.
    """
    from skimage.measure import marching_cubes

    s = prob.shape[0]
    field = np.pad(np.asarray(prob, np.float32), 1) - np.float32(level)
    near = np.abs(field) < 0.01
    field[near] = np.where(field[near] < 0, -0.01, 0.01)
    verts, faces, _, _ = marching_cubes(field, 0.0, method="lorensen")
    verts = (verts.astype(np.float64) - 1.0 + 0.5) / s - 0.5
    return verts, np.ascontiguousarray(faces[:, ::-1], dtype=np.int64)
