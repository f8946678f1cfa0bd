"""Colour science shared by every stage: the sRGB transfer curve, CIELAB, Oklab and CIEDE2000.

Colours in core types are sRGB; anything that mixes light (averaging samples, shading, error
diffusion) works in linear light (IEC 61966-2-1) and converts back. Perceptual comparisons (matching
a colour to the nearest LEGO colour) work in CIELAB (D65) with CIEDE2000, or in Oklab.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike


def srgb_to_linear(
    srgb: np.ndarray, dtype: DTypeLike = np.float32, *, work_dtype: DTypeLike = np.float64
) -> np.ndarray:
    """sRGB in [0, 1] -> linear light in [0, 1], same shape (inputs are clipped to [0, 1]).

    Computed in ``work_dtype`` (float64: 0 and 1 map exactly to 0 and 1), then cast to ``dtype``.
    Point-cloud cleaning passes float32 to keep the temporaries of million-point clouds small.
    """
    c = np.clip(np.asarray(srgb, dtype=work_dtype), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(dtype)


def linear_to_srgb(
    linear: np.ndarray, dtype: DTypeLike = np.float32, *, work_dtype: DTypeLike = np.float64
) -> np.ndarray:
    """Linear light in [0, 1] -> sRGB in [0, 1], same shape (inputs are clipped to [0, 1]).

    Computed in ``work_dtype``, then cast to ``dtype`` (see :func:`srgb_to_linear`).
    """
    c = np.clip(np.asarray(linear, dtype=work_dtype), 0.0, 1.0)
    out = np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1.0 / 2.4) - 0.055)
    return np.clip(out, 0.0, 1.0).astype(dtype)


def hex_to_srgb(value: str) -> np.ndarray:
    """``#RRGGBB`` -> (3,) float64 sRGB in [0, 1]."""
    v = value.lstrip("#")
    return np.array([int(v[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float64) / 255.0


# Colour spaces, vectorised over leading axes; the last axis holds the 3 channels.

_SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])
# Oklab (Björn Ottosson, 2020): linear sRGB -> LMS, cube root, -> Lab.
_OK_M1 = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ]
)
_OK_M2 = np.array(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ]
)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in [0, 1] -> CIELAB (D65 white, L in 0..100), float64."""
    xyz = srgb_to_linear(rgb, np.float64) @ _SRGB_TO_XYZ.T / _D65_WHITE
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1
    )


def srgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in [0, 1] -> Oklab (L in 0..1), float64."""
    lms = srgb_to_linear(rgb, np.float64) @ _OK_M1.T
    return np.cbrt(lms) @ _OK_M2.T


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (kL = kC = kH = 1) between broadcastable (..., 3) CIELAB arrays.

    Implements Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula:
    implementation notes, supplementary test data and mathematical observations", eqs. 1-17,
    including their hue-angle conventions (mean hue and hue difference when a chroma is zero).
    """
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(c7 / (c7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.mod(np.arctan2(b1, a1p), 2 * np.pi)
    h2p = np.mod(np.arctan2(b2, a2p), 2 * np.pi)
    cprod = c1p * c2p
    zero = cprod == 0

    dlp = L2 - L1
    dcp = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > np.pi, dh - 2 * np.pi, np.where(dh < -np.pi, dh + 2 * np.pi, dh))
    dh = np.where(zero, 0.0, dh)
    dhp = 2 * np.sqrt(cprod) * np.sin(dh / 2)

    lbar = (L1 + L2) / 2
    cbar = (c1p + c2p) / 2
    hsum = h1p + h2p
    far = np.abs(h1p - h2p) > np.pi
    hbar = np.where(far, np.where(hsum < 2 * np.pi, hsum + 2 * np.pi, hsum - 2 * np.pi), hsum) / 2
    hbar = np.where(zero, hsum, hbar)

    t = (
        1
        - 0.17 * np.cos(hbar - np.deg2rad(30))
        + 0.24 * np.cos(2 * hbar)
        + 0.32 * np.cos(3 * hbar + np.deg2rad(6))
        - 0.20 * np.cos(4 * hbar - np.deg2rad(63))
    )
    dtheta = np.deg2rad(30) * np.exp(-(((np.rad2deg(hbar) - 275) / 25) ** 2))
    cbar7 = cbar**7
    rc = 2 * np.sqrt(cbar7 / (cbar7 + 25.0**7))
    sl = 1 + 0.015 * (lbar - 50) ** 2 / np.sqrt(20 + (lbar - 50) ** 2)
    sc = 1 + 0.045 * cbar
    sh = 1 + 0.015 * cbar * t
    rt = -np.sin(2 * dtheta) * rc
    tl, tc, th = dlp / sl, dcp / sc, dhp / sh
    return np.sqrt(np.maximum(tl * tl + tc * tc + th * th + rt * tc * th, 0.0))
