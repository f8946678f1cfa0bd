"""Brick model images: studs and edges in the parts' real colours, optional dim/highlight styles
for instruction steps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from voxforge.bricks.geometry import STUD_DIAMETER_M, STUD_HEIGHT_M, ColorSource, brick_model_geometry
from voxforge.core.brickmodel import BrickModel
from voxforge.core.errors import ConfigError, GeometryError
from voxforge.render.camera import Camera, framing_camera
from voxforge.render.raster import RGB, FaceStyle, RenderOptions, render_mesh

PartSelection = Iterable[int] | np.ndarray
"""Placement indices (a set or sequence), or an (n,) bool mask over ``model.placements``."""


def part_mask(selection: PartSelection | None, n: int, name: str = "selection") -> np.ndarray:
    """(n,) bool mask from placement indices or a bool mask (``None`` selects nothing)."""
    if selection is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(selection if isinstance(selection, np.ndarray) else sorted(selection), dtype=None)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ConfigError(f"{name} mask must have {n} entries (one per placement), got {arr.shape}")
        return arr.copy()
    idx = arr.astype(np.int64).ravel()
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise ConfigError(
            f"{name} holds placement index {int(idx.min() if idx.min() < 0 else idx.max())}, "
            f"the model has {n} placements"
        )
    mask = np.zeros(n, dtype=bool)
    mask[idx] = True
    return mask


def model_corners(model: BrickModel) -> np.ndarray:
    """(8 n, 3) float64 world corners (metres) of every placement's box, studs' height included,
    for framing a camera before any mesh exists."""
    a = model.arrays()
    pitch = np.asarray(model.pitch, dtype=np.float64)
    lo = np.stack([a["x"], a["y"], a["z"]], axis=1) * pitch + model.origin
    hi = np.stack([a["x"] + a["sx"], a["y"] + a["sy"], a["z"] + a["h"]], axis=1) * pitch + model.origin
    hi[:, 2] += STUD_HEIGHT_M * pitch[2] / 0.0032
    ix = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], dtype=bool)
    return np.where(ix[None], hi[:, None], lo[:, None]).reshape(-1, 3)


def auto_stud_segments(camera: Camera, model: BrickModel) -> int:
    """Stud sides for the stud size on screen: round enough to look round, no more."""
    return _segments_at(camera, model_corners(model).mean(axis=0))


def _segments_at(camera: Camera, centre: np.ndarray) -> int:
    diameter_px = STUD_DIAMETER_M * camera.pixels_per_metre(centre)
    for limit, segments in ((4.0, 6), (10.0, 8), (24.0, 12)):
        if diameter_px < limit:
            return segments
    return 16


def brick_camera(
    model: BrickModel,
    size: int | tuple[int, int] = 1024,
    azimuth: float = 45.0,
    elevation: float = 30.0,
    *,
    margin: float = 0.04,
    perspective: bool = False,
) -> Camera:
    """A camera framing the whole model (use one camera for every step image of a model, so the
    model stays put from step to step)."""
    if len(model.placements) == 0:
        raise GeometryError("brick model has no placements")
    return framing_camera(
        model_corners(model), size, azimuth, elevation, margin, perspective=perspective
    )


def render_bricks(
    model: BrickModel,
    colors: ColorSource | None = None,
    size: int | tuple[int, int] = 1024,
    azimuth: float = 45.0,
    elevation: float = 30.0,
    *,
    highlight: PartSelection | None = None,
    dim: PartSelection | None = None,
    background: RGB | None = (1.0, 1.0, 1.0),
    studs: bool = True,
    stud_segments: int | None = None,
    camera: Camera | None = None,
    options: RenderOptions | None = None,
) -> np.ndarray:
    """Render a brick model, isometric by default.

    Args:
        model: the placed parts.
        colors: LDraw code -> sRGB floats (mapping or callable); ``None``: a few built-in colours.
        size: image side in pixels, or (width, height); ignored when ``camera`` is given.
        azimuth, elevation: view direction in degrees (see :func:`framing_camera`).
        highlight: parts drawn normally with a coloured ring around them (new parts of a step).
        dim: parts faded toward light grey (parts of earlier steps); highlight wins over dim.
        background: sRGB floats, or ``None`` for a transparent RGBA image.
        studs: draw studs; ``stud_segments`` sides per stud (``None``: picked from the stud size
            on screen, 6..16).
        camera: a fixed camera (e.g. :func:`brick_camera` of the finished model for step images).
        options: drawing options (its ``background`` is replaced by ``background``).

    Returns:
        (H, W, 3) uint8 sRGB, or (H, W, 4) RGBA when ``background`` is ``None``.
    """
    n = len(model.placements)
    if n == 0:
        raise GeometryError("brick model has no placements")
    corners = model_corners(model)
    cam = camera or framing_camera(corners, size, azimuth, elevation, 0.04)
    segments = stud_segments or _segments_at(cam, corners.mean(axis=0))
    geom = brick_model_geometry(model, colors, studs=studs, stud_segments=segments)
    style = None
    if highlight is not None or dim is not None:
        per_part = np.zeros(n, dtype=np.int8)
        per_part[part_mask(dim, n, "dim")] = FaceStyle.DIM
        per_part[part_mask(highlight, n, "highlight")] = FaceStyle.HIGHLIGHT
        style = per_part[geom.face_part]
    opt = replace(options or RenderOptions(), background=background)
    return render_mesh(
        geom.vertices,
        geom.faces,
        geom.face_rgb,
        cam,
        face_group=geom.face_group,
        face_style=style,
        options=opt,
    )
