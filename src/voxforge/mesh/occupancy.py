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


def grid_surface(
    field: np.ndarray, level: float, pitch: np.ndarray, origin: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Closed surface of a scalar field sampled at cell centres of a world-placed grid.

    The same padding, level nudging and Lorensen table as :func:`occupancy_surface`, for any
    (nx, ny, nz) grid: cell ``(i, j, k)`` is centred at ``origin + (index + 0.5) * pitch``
    (the :class:`~voxforge.core.VoxelGrid` convention).

    Returns:
        vertices (n, 3) float64 world coordinates; faces (m, 3) int64, counter-clockwise seen
        from outside.
    """
    from skimage.measure import marching_cubes

    f = np.pad(np.asarray(field, np.float32), 1) - np.float32(level)
    near = np.abs(f) < 0.01
    f[near] = np.where(f[near] < 0, -0.01, 0.01)
    verts, faces, _, _ = marching_cubes(f, 0.0, method="lorensen")
    pitch = np.asarray(pitch, dtype=np.float64)
    verts = (verts.astype(np.float64) - 1.0 + 0.5) * pitch + np.asarray(origin, dtype=np.float64)
    return verts, np.ascontiguousarray(faces[:, ::-1], dtype=np.int64)
