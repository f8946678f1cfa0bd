"""Per-cell colours: linear-light means of samples, nearest-colour fill for unsampled cells.

Colours in core types are sRGB floats in [0, 1]. Averaging sRGB values directly darkens mixtures
(red + green averages to a muddy (0.5, 0.5, 0) instead of the (0.735, 0.735, 0) the eye sees when
the two are blended as light), so every mean here is taken in linear RGB and converted back.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from voxforge.core.color import linear_to_srgb, srgb_to_linear
from voxforge.core.errors import GeometryError

__all__ = ["linear_to_srgb", "srgb_to_linear"]  # re-exported for voxel users


def mean_srgb(srgb: np.ndarray) -> np.ndarray:
    """(3,) float32 sRGB mean of (n, 3) sRGB colours, averaged in linear light."""
    srgb = np.asarray(srgb, dtype=np.float32).reshape(-1, 3)
    if len(srgb) == 0:
        raise GeometryError("cannot average an empty set of colours")
    return linear_to_srgb(srgb_to_linear(srgb).astype(np.float64).mean(axis=0))


def cell_colors(
    cell_index: np.ndarray,
    rgb: np.ndarray,
    occupancy: np.ndarray,
    pitch: np.ndarray,
) -> np.ndarray:
    """Colour every occupied cell from coloured samples.

    Cells holding samples get the linear-light mean of their samples; occupied cells without a
    sample (surface cells the SAT test marked but no sample landed in, and interior cells made by
    filling) take the colour of the nearest sampled cell, distance measured in metres between cell
    centres (``pitch`` makes the 8 x 8 x 3.2 mm cells count correctly), so bricks hidden inside
    carry the colour of the surface next to them.

    Args:
        cell_index: (n, 3) int cell indices of the samples, inside the grid.
        rgb: (n, 3) sRGB colours in [0, 1].
        occupancy: (nx, ny, nz) bool final occupancy.
        pitch: (3,) cell size in metres.

    Returns:
        (nx, ny, nz, 3) float32 sRGB, zeros where the cell is empty.
    """
    shape = occupancy.shape
    n = int(np.prod(shape))
    flat = np.ravel_multi_index(tuple(np.asarray(cell_index, dtype=np.int64).T), shape)
    lin = srgb_to_linear(rgb).astype(np.float64).reshape(-1, 3)
    counts = np.bincount(flat, minlength=n).reshape(shape)
    sums = np.stack([np.bincount(flat, weights=lin[:, c], minlength=n) for c in range(3)], axis=1)
    return colors_from_sums(counts, sums.reshape(*shape, 3), occupancy, pitch)


def colors_from_sums(
    counts: np.ndarray, linear_sums: np.ndarray, occupancy: np.ndarray, pitch: np.ndarray
) -> np.ndarray:
    """Per-cell colours from sample counts and linear-RGB sums (see :func:`cell_colors`).

    Args:
        counts: (nx, ny, nz) int samples per cell.
        linear_sums: (nx, ny, nz, 3) float sums of the samples' linear RGB.
        occupancy: (nx, ny, nz) bool final occupancy.
        pitch: (3,) cell size in metres.

    Returns:
        (nx, ny, nz, 3) float32 sRGB, zeros where the cell is empty.
    """
    sampled = counts > 0
    if not sampled.any():
        raise GeometryError("no coloured sample fell inside the voxel grid")
    colors = np.zeros((*counts.shape, 3), dtype=np.float32)
    colors[sampled] = linear_to_srgb(linear_sums[sampled] / counts[sampled][:, None])
    colors = fill_missing_colors(colors, sampled, occupancy, pitch)
    colors[~occupancy] = 0.0
    return colors


def fill_missing_colors(
    colors: np.ndarray, have: np.ndarray, want: np.ndarray, pitch: np.ndarray
) -> np.ndarray:
    """Copy colours from the nearest cell of ``have`` into every cell of ``want`` lacking one.

    Args:
        colors: (nx, ny, nz, 3) float32 sRGB, valid where ``have``.
        have: (nx, ny, nz) bool cells whose colour is known (at least one).
        want: (nx, ny, nz) bool cells that must end up coloured.
        pitch: (3,) cell size in metres (anisotropic distance).

    Returns:
        A new (nx, ny, nz, 3) float32 array, zeros outside ``want | have``.
    """
    out = np.array(colors, dtype=np.float32, copy=True)
    if not have.any():
        raise GeometryError("no coloured cell to copy colours from")
    missing = want & ~have
    if missing.any():
        idx = ndimage.distance_transform_edt(
            ~have,
            sampling=np.asarray(pitch, dtype=np.float64),
            return_distances=False,
            return_indices=True,
        )
        mi = np.nonzero(missing)
        out[mi] = out[idx[0][mi], idx[1][mi], idx[2][mi]]
    out[~(want | have)] = 0.0
    return out
