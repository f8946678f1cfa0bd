"""The sRGB transfer curve (IEC 61966-2-1), shared by every stage that averages or shades colour.

Colours in core types are sRGB; anything that mixes light (averaging samples, shading, error
diffusion) must work in linear light and convert back.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike


def srgb_to_linear(srgb: np.ndarray, dtype: DTypeLike = np.float32) -> np.ndarray:
    """sRGB in [0, 1] -> linear light in [0, 1], same shape (inputs are clipped to [0, 1]).

    Computed in float64 so that 0 and 1 map exactly to 0 and 1, then cast to ``dtype``.
    """
    c = np.clip(np.asarray(srgb, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(dtype)


def linear_to_srgb(linear: np.ndarray, dtype: DTypeLike = np.float32) -> np.ndarray:
    """Linear light in [0, 1] -> sRGB in [0, 1], same shape (inputs are clipped to [0, 1])."""
    c = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    out = np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1.0 / 2.4) - 0.055)
    return np.clip(out, 0.0, 1.0).astype(dtype)
