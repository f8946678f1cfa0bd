"""Line drawings from renders: the sketch variant of every view of the render set.

Why: people draw outlines and a few fold lines, with uneven strokes that wobble and break; a
sketch model trained only on perfect edge maps would fail on that. So a sketch here is the
silhouette (from the render's coverage mask) plus crease edges (Canny on the shaded object, which
fires where flat-shaded faces change brightness), then

1. wobbled: a smooth random displacement field (a few pixels, low frequency) warps the strokes;
2. thickened: a Gaussian pen of random width, so strokes are anti-aliased and 1-3 px wide;
3. broken: a low-frequency random mask drops a small share of the strokes;
4. inked: dark grey to black on white paper.

Output is (S, S) uint8, white paper (255) with dark lines, the input contract of the sketch model.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from voxforge.core.errors import ConfigError, GeometryError


class SketchConfig(BaseModel):
    """How strokes are drawn (ranges are sampled uniformly per view).

    Attributes:
        canny_low, canny_high: hysteresis thresholds of Canny on the 0..255 grey shading; the
            pair is scaled by a random factor in ``canny_scale`` so views differ in detail.
        line_width: pen width range, pixels at the output size.
        wobble: largest stroke displacement, pixels.
        wobble_cells: the displacement field is smooth over ``size / wobble_cells`` pixels.
        gap_share: largest share of stroke length left out (broken lines).
        ink: darkness range of the lines (1 = black).
    """

    model_config = ConfigDict(extra="forbid")

    canny_low: float = Field(30.0, gt=0)
    canny_high: float = Field(80.0, gt=0)
    canny_scale: tuple[float, float] = (0.7, 1.4)
    line_width: tuple[float, float] = (1.0, 2.6)
    wobble: tuple[float, float] = (0.0, 2.0)
    wobble_cells: int = Field(5, ge=2, le=64)
    gap_share: float = Field(0.08, ge=0.0, lt=0.5)
    ink: tuple[float, float] = (0.75, 1.0)

    @model_validator(mode="after")
    def _check_ranges(self) -> SketchConfig:
        for name in ("canny_scale", "line_width", "wobble", "ink"):
            lo, hi = getattr(self, name)
            if not 0.0 <= lo <= hi:
                raise ConfigError(f"sketch {name} must be a range 0 <= low <= high, got ({lo}, {hi})")
        if self.ink[1] > 1.0 or self.line_width[0] <= 0.0:
            raise ConfigError("sketch ink must be in [0, 1] and line_width positive")
        if self.canny_low >= self.canny_high:
            raise ConfigError(f"canny_low {self.canny_low} must be below canny_high {self.canny_high}")
        return self


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1])) if bounds[1] > bounds[0] else float(bounds[0])


def edge_map(shading: np.ndarray, mask: np.ndarray, low: float, high: float) -> np.ndarray:
    """(S, S) uint8 0/255 edges: silhouette of ``mask`` plus Canny creases of ``shading``.

    Args:
        shading: (S, S) uint8 grey image of the object alone (any plain background).
        mask: (S, S) bool object coverage.
        low, high: Canny hysteresis thresholds.
    """
    m = np.ascontiguousarray(mask, dtype=np.uint8)
    silhouette = cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((2, 2), np.uint8))
    creases = cv2.Canny(np.ascontiguousarray(shading, dtype=np.uint8), low, high, L2gradient=True)
    # only creases inside the object: the silhouette is drawn from the mask
    inside = cv2.erode(m, np.ones((3, 3), np.uint8))
    return np.where((silhouette > 0) | ((creases > 0) & (inside > 0)), 255, 0).astype(np.uint8)


def _smooth_field(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """(size, size) float32 smooth noise in about [-1, 1] (bicubic upsampling of a coarse grid)."""
    coarse = rng.uniform(-1.0, 1.0, size=(cells + 1, cells + 1)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)


def draw_sketch(
    shading: np.ndarray, mask: np.ndarray, rng: np.random.Generator, config: SketchConfig | None = None
) -> np.ndarray:
    """A hand-drawn-looking line drawing of one rendered view.

    Args:
        shading: (S, S) uint8 grey render of the object (background value irrelevant).
        mask: (S, S) bool coverage of the object.
        rng: the view's random generator (deterministic output for a given state).
        config: stroke settings.

    Returns:
        (S, S) uint8: 255 paper, darker lines.
    """
    cfg = config or SketchConfig()
    shading = np.asarray(shading)
    mask = np.asarray(mask, dtype=bool)
    if shading.ndim != 2 or shading.shape != mask.shape or shading.shape[0] != shading.shape[1]:
        raise GeometryError(
            f"sketch needs square (S, S) shading and mask, got {shading.shape} and {mask.shape}"
        )
    size = shading.shape[0]
    scale = _uniform(rng, cfg.canny_scale)
    edges = edge_map(shading, mask, cfg.canny_low * scale, cfg.canny_high * scale).astype(np.float32)

    amplitude = _uniform(rng, cfg.wobble)
    dx = _smooth_field(rng, size, cfg.wobble_cells) * amplitude
    dy = _smooth_field(rng, size, cfg.wobble_cells) * amplitude
    grid = np.arange(size, dtype=np.float32)
    map_x = grid[None, :] + dx
    map_y = grid[:, None] + dy
    edges = cv2.remap(edges, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)

    width = _uniform(rng, cfg.line_width)
    sigma = 0.22 + 0.3 * width
    pen = cv2.GaussianBlur(edges, (0, 0), sigma)
    # normalise so a 1-px line at the pen's centre reaches full ink; wider pens saturate
    peak = 255.0 / (np.sqrt(2.0 * np.pi) * sigma)
    stroke = np.clip(pen / peak * (0.6 + 0.45 * width), 0.0, 1.0)

    gaps = rng.uniform(0.0, cfg.gap_share)
    if gaps > 0:
        keep = _smooth_field(rng, size, max(4, size // 10)) > 2.0 * gaps - 1.0  # ~gaps dropped
        stroke = stroke * cv2.GaussianBlur(keep.astype(np.float32), (0, 0), 1.0)

    ink = _uniform(rng, cfg.ink)
    return np.clip(np.rint(255.0 * (1.0 - ink * stroke)), 0, 255).astype(np.uint8)
