"""Where the grid sits: the scale from input units to model metres, the pitch, origin and shape.

The grid lives in *model metres*: a point ``p`` of the input (metres, z up) lies at ``scale * p``
in the grid's frame, and ``GridFrame.origin`` is the model-metre position of cell (0, 0, 0)'s min
corner. On the LEGO lattice the pitch is fixed (8 x 8 x 3.2 mm), so fitting to ``width_studs``
changes ``scale``; the cubic grid keeps ``scale = 1`` and chooses the pitch instead.

Placement rules: z=0 is the object's lowest point; in x/y the grid is cropped to the object and the
slack of the last, partly filled cell is split evenly on both sides, so a symmetric object gives a
symmetric grid. The cubic grid centres the object on all three axes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from voxforge.core.errors import GeometryError, SizeLimitError
from voxforge.core.voxelgrid import LEGO_PITCH, STUD_PITCH_M
from voxforge.voxel.config import VoxelizeConfig

_SHRINK = 1.0 - 1e-6
"""Fitted sizes are shrunk by one part in a million so the far faces stay inside the last cell."""
_CEIL_TOL = 1e-6
"""Extents within this many cells above a whole number round down (float noise, not a new cell)."""


@dataclass(frozen=True)
class GridFrame:
    """A grid's placement: cells of ``pitch`` metres from ``origin``, ``shape`` cells per axis.

    Attributes:
        shape: (nx, ny, nz) cells.
        pitch: (3,) float64 cell size, model metres.
        origin: (3,) float64 min corner of cell (0, 0, 0), model metres.
        scale: input units -> model metres (1.0 for ``scale="real"`` and the cubic grid).
    """

    shape: tuple[int, int, int]
    pitch: np.ndarray
    origin: np.ndarray
    scale: float

    @property
    def cells(self) -> int:
        return int(np.prod(self.shape))

    @property
    def padded_cells(self) -> int:
        """Cells of the grid padded by one cell per side (what filling allocates)."""
        return int(np.prod([s + 2 for s in self.shape]))

    def to_cells(self, xyz: np.ndarray) -> np.ndarray:
        """(n, 3) float64 continuous cell coordinates of (n, 3) input points (cell k spans [k, k+1))."""
        return (np.asarray(xyz, dtype=np.float64) * self.scale - self.origin) / self.pitch

    def cell_index(self, xyz: np.ndarray) -> np.ndarray:
        """(n, 3) int64 cell of each input point, clamped into the grid (far faces, float noise)."""
        idx = np.floor(self.to_cells(xyz)).astype(np.int64)
        return np.clip(idx, 0, np.asarray(self.shape, dtype=np.int64) - 1)


def fit_scale(bounds: np.ndarray, config: VoxelizeConfig) -> GridFrame:
    """Choose the scale and grid placement for an object with the given bounds.

    Args:
        bounds: (2, 3) float64 min and max corner of the object, input metres.
        config: sizing options (lattice, scale, width_studs, resolution, margin, max_cells).

    Raises:
        GeometryError: non-finite bounds, an object with no horizontal extent to fit, or (real
            scale) one smaller than a single cell.
        SizeLimitError: the padded grid would exceed ``config.max_cells``; the message names a
            size that fits.
    """
    bounds = np.asarray(bounds, dtype=np.float64).reshape(2, 3)
    if not np.isfinite(bounds).all():
        raise GeometryError("object bounds are not finite (NaN/inf coordinates)")
    ext = bounds[1] - bounds[0]
    if config.lattice == "cubic":
        frame = _cubic_frame(bounds, ext, config)
    else:
        frame = _lego_frame(bounds, ext, config)
    if frame.padded_cells > config.max_cells:
        raise SizeLimitError(_size_message(bounds, frame, config))
    return frame


def _lego_frame(bounds: np.ndarray, ext: np.ndarray, config: VoxelizeConfig) -> GridFrame:
    width = float(max(ext[0], ext[1]))
    if config.scale == "real":
        scale = 1.0
        if (ext < LEGO_PITCH).all():
            mm = " x ".join(f"{e * 1000:.3g}" for e in ext)
            raise GeometryError(
                f"object is {mm} mm, smaller than one 8 x 8 x 3.2 mm cell at scale='real'; "
                "use scale='fit' with width_studs"
            )
    else:
        if not width > 1e-12 * max(float(ext.max()), 1e-300):
            raise GeometryError(
                f"object has no horizontal extent (x {ext[0]:.3g} m, y {ext[1]:.3g} m) "
                f"to fit to width_studs={config.width_studs}"
            )
        assert config.width_studs is not None
        scale = config.width_studs * STUD_PITCH_M * _SHRINK / width
    return _frame(bounds, ext * scale, scale, LEGO_PITCH.copy(), center_z=False)


def _cubic_frame(bounds: np.ndarray, ext: np.ndarray, config: VoxelizeConfig) -> GridFrame:
    longest = float(ext.max())
    if not longest > 0.0:
        raise GeometryError("object is a single point; it has no size to fit into a cubic grid")
    inner = config.resolution - 2 * config.margin
    pitch = np.full(3, longest / (inner * _SHRINK))
    frame = _frame(bounds, ext, 1.0, pitch, center_z=True)
    # Every axis gets the full resolution; the object stays centred inside it.
    shape = np.full(3, config.resolution, dtype=np.int64)
    origin = frame.origin - (shape - np.asarray(frame.shape)) / 2.0 * pitch
    return GridFrame(shape=_tuple3(shape), pitch=pitch, origin=origin, scale=1.0)


def _frame(
    bounds: np.ndarray, scaled_ext: np.ndarray, scale: float, pitch: np.ndarray, *, center_z: bool
) -> GridFrame:
    """Crop the grid to the object; split the slack of partial cells evenly (x, y, and z if asked)."""
    n = np.maximum(np.ceil(scaled_ext / pitch - _CEIL_TOL), 1).astype(np.int64)
    slack = (n * pitch - scaled_ext) / 2.0
    if not center_z:
        slack[2] = 0.0
    origin = bounds[0] * scale - slack
    return GridFrame(shape=_tuple3(n), pitch=pitch, origin=origin, scale=float(scale))


def _tuple3(a: np.ndarray) -> tuple[int, int, int]:
    return (int(a[0]), int(a[1]), int(a[2]))


def _size_message(bounds: np.ndarray, frame: GridFrame, config: VoxelizeConfig) -> str:
    sx, sy, sz = frame.shape
    cells = frame.padded_cells
    if config.lattice == "cubic":
        fit = max(_icbrt(config.max_cells) - 2, 0)
        advice = f"use resolution={fit} or less" if fit >= 2 else "raise max_cells"
        return (
            f"a {config.resolution}³ cubic grid is {_human(cells)} cells padded, over the "
            f"{_human(config.max_cells)} cap; {advice}"
        )
    studs = max(sx, sy)
    what = f"at {studs} studs" if config.scale == "fit" else f"at real scale ({studs} studs wide)"
    best = _largest_width_that_fits(bounds, config)
    advice = (
        f"use --width-studs {best} or less (width_studs={best})"
        if best
        else "even 1 stud wide is too big; raise max_cells"
    )
    return (
        f"{what} the grid would be {sx}×{sy}×{sz} = {_human(cells)} cells padded, over the "
        f"{_human(config.max_cells)} cap; {advice}"
    )


def _largest_width_that_fits(bounds: np.ndarray, config: VoxelizeConfig) -> int:
    """Largest width_studs whose padded grid fits ``config.max_cells`` (0 if none), by bisection."""
    ext = bounds[1] - bounds[0]
    width = float(max(ext[0], ext[1]))
    if not width > 0.0:
        return 0

    def cells(w: int) -> int:
        scale = w * STUD_PITCH_M * _SHRINK / width
        n = np.maximum(np.ceil(ext * scale / LEGO_PITCH - _CEIL_TOL), 1)
        return int(np.prod(n + 2))

    lo, hi = 0, max(math.ceil(width / STUD_PITCH_M), 1)
    if config.scale == "fit" and config.width_studs:
        hi = config.width_studs
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cells(mid) <= config.max_cells:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _icbrt(n: int) -> int:
    """Largest integer r with r**3 <= n (float cube roots round 10**6 down to 99)."""
    r = round(n ** (1.0 / 3.0))
    while r**3 > n:
        r -= 1
    while (r + 1) ** 3 <= n:
        r += 1
    return r


def _human(n: int) -> str:
    if n >= 10_000_000:
        return f"{n / 1e6:.0f}M"
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M"
    if n >= 10_000:
        return f"{n / 1e3:.0f}k"
    return str(n)
