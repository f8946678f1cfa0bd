"""LEGO colours: the LDraw colour table, perceptual matching, and colour assignment for a grid.

The table (``voxforge/data/colors.json``) is generated from the official LDraw ``LDConfig.ldr`` by
``scripts/make_color_table.py`` (LDraw codes, names, RGB, finish) plus BrickLink and Rebrickable
colour ids. Matching is perceptual: CIEDE2000 on CIELAB (D65), or Euclidean distance in Oklab as a
faster option. :func:`assign_colors` turns a coloured :class:`~voxforge.core.voxelgrid.VoxelGrid`
into one LDraw colour code per filled cell, optionally reduced to K colours and dithered.
"""

from __future__ import annotations

import csv
import difflib
import json
import logging
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numba import njit, prange
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from voxforge.core import color as _core_color
from voxforge.core.errors import ConfigError, InputFormatError
from voxforge.core.voxelgrid import VoxelGrid

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------
# The colour table


@dataclass(frozen=True)
class Color:
    """One LDraw colour.

    Attributes:
        code: LDraw colour code.
        name: display name ("Light Bluish Grey"; LDraw's name with spaces).
        rgb: ``#RRGGBB`` sRGB value from LDConfig.
        edge: ``#RRGGBB`` edge (outline) colour.
        finish: ``solid``, ``transparent``, ``chrome``, ``pearlescent``, ``metal``, ``rubber``,
            ``milky``, ``glow``, ``glitter``, ``speckle`` or ``special`` (16 and 24).
        alpha: 0..255 (255 opaque).
        lego_id: LEGO's own colour number from the LDConfig comment, or None.
        bricklink_id: BrickLink colour id, or None where not mapped.
        bricklink_source: ``LEGO_FACTS`` (table in the project's facts file), ``extra`` (common
            public mapping added by hand, unverified), or None.
        rebrickable_id: Rebrickable colour id, or None.
        rebrickable_source: ``ldraw-code`` (Rebrickable follows the LDraw code for this colour),
            ``ldraw-code-unverified`` (assumed to follow it), or None.
    """

    code: int
    name: str
    rgb: str
    edge: str
    finish: str
    alpha: int
    lego_id: int | None = None
    bricklink_id: int | None = None
    bricklink_source: str | None = None
    rebrickable_id: int | None = None
    rebrickable_source: str | None = None

    @property
    def srgb(self) -> np.ndarray:
        """(3,) float64 sRGB in [0, 1]."""
        return hex_to_srgb(self.rgb)

    @property
    def opaque_solid(self) -> bool:
        return self.finish == "solid" and self.alpha == 255


def hex_to_srgb(value: str) -> np.ndarray:
    """``#RRGGBB`` -> (3,) float64 sRGB in [0, 1]."""
    v = value.lstrip("#")
    return np.array([int(v[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float64) / 255.0


_COLOUR_RE = re.compile(r"^0\s+!COLOUR\s+(\S+)\s+(.*)$")
_LEGOID_RE = re.compile(r"//\s*LEGOID\s+(\d+)")
_SECTION_RE = re.compile(r"^0\s+//\s*(LDraw .* Colours)\s*$")


def _finish(code: int, keywords: dict[str, str], flags: set[str], alpha: int, section: str) -> str:
    """The finish class of one LDConfig entry, from its keywords (LDraw colour definition spec);
    ``section`` (the ``// LDraw ... Colours`` heading above it) tells milky from transparent."""
    if code in (16, 24):
        return "special"
    if "RUBBER" in flags:
        return "rubber"
    for flag, name in (("CHROME", "chrome"), ("PEARLESCENT", "pearlescent"), ("METAL", "metal")):
        if flag in flags:
            return name
    material = keywords.get("MATERIAL", "").upper()
    if material == "GLITTER":
        return "glitter"
    if material == "SPECKLE":
        return "speckle"
    if "LUMINANCE" in keywords:
        return "glow"
    if alpha < 255:
        return "milky" if "milky" in section.lower() else "transparent"
    return "solid"


def parse_ldconfig(path: str | Path) -> list[dict[str, Any]]:
    """Parse an ``LDConfig.ldr`` into one dict per ``!COLOUR`` line, in file order.

    Keys: ``code``, ``ldraw_name``, ``name``, ``rgb``, ``edge``, ``alpha``, ``finish``,
    ``lego_id`` (from the ``// LEGOID nn - Name`` comment right above the entry, if any).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as e:
        raise InputFormatError(f"cannot read LDraw colour table {path}: {e.strerror}") from e
    out: list[dict[str, Any]] = []
    pending_lego: int | None = None
    section = ""
    for lineno, line in enumerate(lines, 1):
        m_section = _SECTION_RE.match(line.strip())
        if m_section:
            section = m_section.group(1)
            continue
        m_lego = _LEGOID_RE.search(line)
        if m_lego and "!COLOUR" not in line:
            pending_lego = int(m_lego.group(1))
            continue
        m = _COLOUR_RE.match(line.strip())
        if not m:
            continue
        name, rest = m.group(1), m.group(2).split()
        keywords: dict[str, str] = {}
        flags: set[str] = set()
        i = 0
        while i < len(rest):
            tok = rest[i].upper()
            if tok in ("CODE", "VALUE", "EDGE", "ALPHA", "LUMINANCE") and tok not in keywords:
                if i + 1 >= len(rest):
                    raise InputFormatError(f"{path}:{lineno}: {tok} without a value")
                keywords[tok] = rest[i + 1]
                i += 2
            elif tok == "MATERIAL":
                keywords["MATERIAL"] = rest[i + 1] if i + 1 < len(rest) else ""
                break  # material parameters follow; they repeat VALUE etc.
            else:
                flags.add(tok)
                i += 1
        try:
            code = int(keywords["CODE"])
            rgb, edge = keywords["VALUE"].upper(), keywords["EDGE"].upper()
            alpha = int(keywords.get("ALPHA", "255"))
        except (KeyError, ValueError) as e:
            raise InputFormatError(f"{path}:{lineno}: malformed !COLOUR line ({e})") from e
        if not re.fullmatch(r"#[0-9A-F]{6}", rgb):
            raise InputFormatError(f"{path}:{lineno}: colour VALUE {rgb!r} is not #RRGGBB")
        out.append(
            {
                "code": code,
                "ldraw_name": name,
                "name": name.replace("_", " "),
                "rgb": rgb,
                "edge": edge if edge.startswith("#") else f"code {edge}",
                "alpha": alpha,
                "finish": _finish(code, keywords, flags, alpha, section),
                "lego_id": pending_lego,
            }
        )
        pending_lego = None
    if not out:
        raise InputFormatError(f"{path}: no !COLOUR lines found; expected an LDraw LDConfig.ldr")
    return out


@cache
def _table_json() -> dict[str, Any]:
    text = resources.files("voxforge").joinpath("data", "colors.json").read_text(encoding="utf-8")
    return json.loads(text)


@cache
def load_colors() -> dict[int, Color]:
    """All LDraw colours by code (from the packaged table; built once)."""
    fields = Color.__dataclass_fields__
    return {
        int(c["code"]): Color(**{k: v for k, v in c.items() if k in fields})
        for c in _table_json()["colors"]
    }


# A curated default buildable palette: opaque solid colours that basic bricks and plates are
# commonly made in today (LDraw codes). Old grey/brown (7, 8, 6) are left out: retired in 2004.
SOLID_PALETTE: tuple[int, ...] = (
    0, 1, 2, 4, 5, 10, 14, 15, 19, 25, 26, 27, 28, 29, 30, 31, 70, 71, 72, 73, 78, 84, 92,
    191, 212, 226, 272, 288, 308, 320, 321, 322, 326, 353, 378, 379, 484,
)  # fmt: skip


def solid_palette() -> list[int]:
    """The default palette: 37 opaque solid LDraw colour codes real bricks are commonly made in."""
    return list(SOLID_PALETTE)


def find_color(value: int | str) -> Color:
    """The colour with this LDraw code or name (case and ``_``/space insensitive).

    Raises ConfigError naming the value and the closest known codes/names.
    """
    table = load_colors()
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        code = int(text)
        if code in table:
            return table[code]
        by_str = difflib.get_close_matches(text, [str(c) for c in table], n=3, cutoff=0.6)
        near = [int(c) for c in by_str] or sorted(table, key=lambda c: (abs(c - code), c))[:3]
        hint = ", ".join(f"{c} {table[c].name}" for c in near)
        raise ConfigError(f"unknown LDraw colour code {code}; close matches: {hint}")
    norm = {c.name.lower(): c for c in table.values()}
    key = text.replace("_", " ").lower()
    if key in norm:
        return norm[key]
    close = difflib.get_close_matches(key, list(norm), n=3, cutoff=0.5)
    hint = ", ".join(f"{norm[n].code} {norm[n].name}" for n in close) or "none"
    raise ConfigError(f"unknown LDraw colour {text!r}; close matches: {hint}")


# --------------------------------------------------------------------------------------------------
# Colour spaces (all vectorised over leading axes; last axis is the 3 channels)

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


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in [0, 1] -> linear RGB, float64 (colour science wants the precision)."""
    return _core_color.srgb_to_linear(rgb, np.float64)


def linear_to_srgb(lin: np.ndarray) -> np.ndarray:
    """(..., 3) linear RGB -> sRGB in [0, 1], float64."""
    return _core_color.linear_to_srgb(lin, np.float64)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in [0, 1] -> CIELAB (D65 white, L in 0..100), float64."""
    xyz = srgb_to_linear(rgb) @ _SRGB_TO_XYZ.T / _D65_WHITE
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1
    )


def srgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in [0, 1] -> Oklab (L in 0..1), float64."""
    lms = srgb_to_linear(rgb) @ _OK_M1.T
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


# --------------------------------------------------------------------------------------------------
# Matching

Metric = Literal["ciede2000", "oklab"]
_CHUNK = 1 << 21  # colour x palette pairs per Oklab block: bounds temporary memory
OKLAB_LIGHTNESS_SCALE = 0.4
"""Oklab's L is scaled by this before Euclidean matching (a weight of 0.16 on ΔL²).

Scans and textures carry shading: the same plastic shows up lighter or darker, while its hue and
chroma stay put. With plain Oklab a shaded colour jumps to a neighbour of another hue (a banana
texture's mustard yellow (194, 165, 18) matches Bright Light Orange, not Yellow). Over the solid
palette's colours scaled by 0.8-1.15 in linear light (plain and with noise), the scaled distance
finds the colour again for 98.9% of samples (plain Oklab 93.2%, CIEDE2000 97.8%; by 0.6-1.2:
86.6%, 72.5%, 86.2%; ``benchmarks/bench_colors.py``), while keeping Oklab's sanity at large
distances: saturated blue (30, 30, 200) stays Blue where CIEDE2000 picks Black. Lower scales gain
little and send more dark colours to light ones."""


def _to_space(rgb: np.ndarray, metric: str) -> np.ndarray:
    if metric == "ciede2000":
        return srgb_to_lab(rgb)
    if metric == "oklab":
        return srgb_to_oklab(rgb) * np.array([OKLAB_LIGHTNESS_SCALE, 1.0, 1.0])
    raise ConfigError(f"unknown colour metric {metric!r}; expected 'ciede2000' or 'oklab'")


def _oklab_distances(x: np.ndarray, pal: np.ndarray) -> np.ndarray:
    """(n, p) Euclidean distances between (n, 3) and (p, 3) Oklab points."""
    d2 = (x * x).sum(1)[:, None] - 2 * x @ pal.T + (pal * pal).sum(1)[None, :]
    return np.sqrt(np.maximum(d2, 0.0))


@njit(cache=True)
def _de00_scalar(L1: float, a1: float, b1: float, L2: float, a2: float, b2: float) -> float:
    """CIEDE2000 of one pair; the same formula as :func:`ciede2000` (which the tests check
    against Sharma et al.), written out scalar for the numba nearest-colour loop."""
    pi = np.pi
    c7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(c7 / (c7 + 6103515625.0)))  # 25**7
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.arctan2(b1, a1p) % (2 * pi)
    h2p = np.arctan2(b2, a2p) % (2 * pi)
    cprod = c1p * c2p
    dh = h2p - h1p
    if cprod == 0:
        dh = 0.0
    elif dh > pi:
        dh -= 2 * pi
    elif dh < -pi:
        dh += 2 * pi
    dhp = 2 * np.sqrt(cprod) * np.sin(dh / 2)
    lbar = (L1 + L2) / 2
    cbar = (c1p + c2p) / 2
    hsum = h1p + h2p
    if cprod == 0:
        hbar = hsum
    elif abs(h1p - h2p) <= pi:
        hbar = hsum / 2
    elif hsum < 2 * pi:
        hbar = (hsum + 2 * pi) / 2
    else:
        hbar = (hsum - 2 * pi) / 2
    t = (
        1
        - 0.17 * np.cos(hbar - 0.5235987755982988)
        + 0.24 * np.cos(2 * hbar)
        + 0.32 * np.cos(3 * hbar + 0.10471975511965977)
        - 0.20 * np.cos(4 * hbar - 1.0995574287564276)
    )
    dtheta = 0.5235987755982988 * np.exp(-(((hbar * 180 / pi - 275) / 25) ** 2))
    cbar7 = cbar**7
    rc = 2 * np.sqrt(cbar7 / (cbar7 + 6103515625.0))
    sl = 1 + 0.015 * (lbar - 50) ** 2 / np.sqrt(20 + (lbar - 50) ** 2)
    sc = 1 + 0.045 * cbar
    sh = 1 + 0.015 * cbar * t
    rt = -np.sin(2 * dtheta) * rc
    tl, tc, th = (L2 - L1) / sl, (c2p - c1p) / sc, dhp / sh
    return np.sqrt(max(tl * tl + tc * tc + th * th + rt * tc * th, 0.0))


@njit(cache=True, parallel=True)
def _nearest_de00(x: np.ndarray, pal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, p = x.shape[0], pal.shape[0]
    idx = np.empty(n, dtype=np.int64)
    dist = np.empty(n, dtype=np.float64)
    for i in prange(n):
        best, bd = 0, np.inf
        for j in range(p):
            d = _de00_scalar(x[i, 0], x[i, 1], x[i, 2], pal[j, 0], pal[j, 1], pal[j, 2])
            if d < bd:
                bd, best = d, j
        idx[i] = best
        dist[i] = bd
    return idx, dist


def _nearest(x: np.ndarray, pal: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Index (n,) int64 and distance (n,) float64 of the nearest palette point.

    CIEDE2000 runs in a compiled loop (no (n, p) temporaries); Oklab in numpy blocks.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    pal = np.ascontiguousarray(pal, dtype=np.float64)
    if metric == "ciede2000":
        return _nearest_de00(x, pal)
    n = len(x)
    idx = np.empty(n, dtype=np.int64)
    dist = np.empty(n, dtype=np.float64)
    step = max(1, _CHUNK // max(len(pal), 1))
    for s in range(0, n, step):
        d = _oklab_distances(x[s : s + step], pal)
        idx[s : s + step] = d.argmin(1)
        dist[s : s + step] = d[np.arange(len(d)), idx[s : s + step]]
    return idx, dist


def _histogram_rgb(rgb: np.ndarray, bits: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Bin (n, 3) sRGB into 2**bits levels per channel: (b, 3) mean colour and (b,) count of each
    occupied bin. Clustering and the auto-K rule run on these (at most 32768 bins for 5 bits),
    which keeps them fast on noisy scans; a 5-bit bin spans about 1-2 CIEDE2000 units."""
    levels = 1 << bits
    q = np.clip((np.asarray(rgb, dtype=np.float64) * levels).astype(np.int64), 0, levels - 1)
    key = (q[:, 0] * levels + q[:, 1]) * levels + q[:, 2]
    ukey, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
    inv = inv.reshape(-1)
    means = np.stack([np.bincount(inv, weights=rgb[:, j], minlength=len(ukey)) for j in range(3)], 1)
    return means / counts[:, None], counts


def _unique_rgb(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantise (n, 3) sRGB to 8 bits and deduplicate.

    Returns (u, 3) float64 unique sRGB, (n,) int64 inverse index, (u,) int64 counts. Matching at
    8-bit precision is what the eye (and LDConfig) resolves; it makes real scans ~10-100x cheaper.
    """
    q = np.clip(np.rint(np.asarray(rgb, dtype=np.float64) * 255.0), 0, 255).astype(np.int64)
    key = (q[:, 0] << 16) | (q[:, 1] << 8) | q[:, 2]
    ukey, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
    u = np.stack([(ukey >> 16) & 255, (ukey >> 8) & 255, ukey & 255], 1).astype(np.float64) / 255.0
    return u, inv.reshape(-1), counts


def _palette_array(codes: list[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes_arr = np.asarray(list(codes), dtype=np.int64)
    if codes_arr.size == 0:
        raise ConfigError("colour palette is empty")
    table = load_colors()
    for c in codes_arr:
        if int(c) not in table:
            find_color(int(c))  # raises with close matches
    return codes_arr, np.stack([table[int(c)].srgb for c in codes_arr])


def match_colors(
    rgb: np.ndarray, palette: list[int] | np.ndarray, metric: Metric = "ciede2000"
) -> np.ndarray:
    """Nearest palette colour for each input colour.

    Args:
        rgb: (n, 3) float sRGB in [0, 1].
        palette: LDraw colour codes to choose from.
        metric: ``ciede2000`` (CIELAB; best for small differences) or ``oklab`` (Euclidean
            Oklab with lightness weighted down, see :data:`OKLAB_LIGHTNESS_SCALE`; ~10x faster,
            and sane across the large gaps between LEGO colours).

    Returns:
        (n,) int64 LDraw codes. Inputs are matched at 8-bit precision (see ``_unique_rgb``).
    """
    rgb = np.asarray(rgb, dtype=np.float64).reshape(-1, 3)
    codes, pal_rgb = _palette_array(palette)
    if len(rgb) == 0:
        return np.zeros(0, dtype=np.int64)
    u, inv, _ = _unique_rgb(rgb)
    idx, _ = _nearest(_to_space(u, metric), _to_space(pal_rgb, metric), metric)
    return codes[idx][inv]


# --------------------------------------------------------------------------------------------------
# Inventories: which colours does the user own?


def load_inventory(
    source: str | Path | dict[str | int, dict[int, int]],
) -> dict[tuple[str, int], int]:
    """A user's parts as ``{(part, ldraw_colour): quantity}``.

    Accepts a dict ``{part: {ldraw_code: qty}}``, or a file: a Rebrickable part-list CSV
    (``Part,Color,Quantity``, Rebrickable colour ids), a BrickLink XML inventory/wanted list
    (``ITEMID``, ``COLOR`` = BrickLink colour id, ``QTY`` or ``MINQTY``), or JSON/YAML holding the
    dict form.
    """
    if isinstance(source, dict):
        return _inventory_from_dict(source, "inventory")
    path = Path(source)
    if not path.is_file():
        raise InputFormatError(f"inventory file {path} not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _inventory_from_csv(path)
    if suffix == ".xml":
        return _inventory_from_xml(path)
    if suffix in (".json", ".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise InputFormatError(f"inventory {path} is not valid JSON/YAML: {e}") from e
        if not isinstance(data, dict):
            raise InputFormatError(f"inventory {path}: expected a mapping part -> {{colour: qty}}")
        return _inventory_from_dict(data, str(path))
    raise InputFormatError(
        f"inventory {path}: unknown extension {suffix!r}; expected .csv (Rebrickable), "
        ".xml (BrickLink), .json or .yaml"
    )


def _inventory_from_dict(data: dict[Any, Any], where: str) -> dict[tuple[str, int], int]:
    out: dict[tuple[str, int], int] = {}
    for part, colours in data.items():
        if not isinstance(colours, dict):
            raise InputFormatError(f"{where}: part {part!r} must map colour codes to quantities")
        for code, qty in colours.items():
            try:
                key = (str(part), int(code))
                out[key] = out.get(key, 0) + int(qty)
            except (TypeError, ValueError) as e:
                raise InputFormatError(f"{where}: bad entry {part!r}: {code!r} -> {qty!r}") from e
    return out


def _by_id(attr: str) -> dict[int, int]:
    return {getattr(c, attr): c.code for c in load_colors().values() if getattr(c, attr) is not None}


def _inventory_from_csv(path: Path) -> dict[tuple[str, int], int]:
    rb = _by_id("rebrickable_id")
    out: dict[tuple[str, int], int] = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        cols = {c.lower(): c for c in reader.fieldnames or []}
        if not {"part", "color", "quantity"} <= set(cols):
            raise InputFormatError(
                f"inventory {path}: expected header Part,Color,Quantity, found {reader.fieldnames}"
            )
        for row in reader:
            try:
                rid, qty = int(row[cols["color"]]), int(row[cols["quantity"]])
            except ValueError as e:
                raise InputFormatError(f"inventory {path} line {reader.line_num}: {e}") from e
            if rid not in rb:
                raise InputFormatError(
                    f"inventory {path} line {reader.line_num}: unknown Rebrickable colour {rid}"
                )
            key = (row[cols["part"]].strip(), rb[rid])
            out[key] = out.get(key, 0) + qty
    return out


def _inventory_from_xml(path: Path) -> dict[tuple[str, int], int]:
    from lxml import etree

    bl = _by_id("bricklink_id")
    try:
        root = etree.parse(str(path)).getroot()
    except etree.XMLSyntaxError as e:
        raise InputFormatError(f"inventory {path} is not valid XML: {e}") from e
    out: dict[tuple[str, int], int] = {}
    for item in root.iter("ITEM"):
        part = (item.findtext("ITEMID") or "").strip()
        colour = item.findtext("COLOR")
        qty = item.findtext("QTY") or item.findtext("MINQTY") or "1"
        if not part or colour is None:
            continue  # items without a colour do not restrict colours
        try:
            bid, n = int(colour), int(qty)
        except ValueError as e:
            raise InputFormatError(f"inventory {path}: bad ITEM {part}: {e}") from e
        if bid not in bl:
            raise InputFormatError(f"inventory {path}: unknown BrickLink colour {bid} for {part}")
        key = (part, bl[bid])
        out[key] = out.get(key, 0) + n
    return out


# --------------------------------------------------------------------------------------------------
# Configuration


class ColorConfig(BaseModel):
    """How to colour a brick model.

    Attributes:
        mode: ``"auto"`` (choose the number of colours, see :func:`assign_colors`), an int K
            (reduce to at most K palette colours), or ``"single:CODE"`` (every part one colour).
            The CLI string ``auto|K|single:CODE`` parses straight into this field.
        metric: ``oklab`` (default) or ``ciede2000`` for every nearest-colour decision.
            ``oklab`` is Euclidean Oklab with lightness weighted down
            (:data:`OKLAB_LIGHTNESS_SCALE`), so shaded texture and scan colours keep their hue
            (a mustard-yellow banana is Yellow). It is the default because CIEDE2000 is built
            for small differences: across the large gaps between LEGO colours its blue-region
            hue term sends saturated blue (30, 30, 200) to Black instead of Blue.
        dither: 3-D error diffusion over the visible surface cells.
        palette: LDraw codes to use instead of :func:`solid_palette`.
        inventory: the user's parts (file or dict, see :func:`load_inventory`); only colours they
            own (quantity > 0) are used.
        interior_color: ``"nearest"`` (hidden filled cells are matched like the rest; the
            voxelizer copies the nearest surface colour into them) or an LDraw code for all hidden
            cells (e.g. a cheap colour the user has plenty of).
        default_color: LDraw code used when the grid carries no colours.
        auto_threshold: ``auto`` stops at the smallest K whose mean CIEDE2000 is within this of
            the unrestricted palette match.
        max_auto_colors: cap on K in ``auto`` mode.
        seed: k-means seed.
    """

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto"] | int | str = "auto"
    metric: Metric = "oklab"
    dither: bool = False
    palette: list[int] | None = None
    inventory: Path | dict[str | int, dict[int, int]] | None = None
    interior_color: Literal["nearest"] | int = "nearest"
    default_color: int = 71
    auto_threshold: float = Field(3.0, gt=0)
    max_auto_colors: int = Field(12, ge=1, le=64)
    despeckle: int = Field(
        2,
        ge=0,
        le=64,
        description="Recolour same-colour islands of at most this many cells with their "
        "neighbours' most common colour (scan colour noise otherwise becomes a rash of 1x1 "
        "parts); 0 = off. Never applied with dither.",
    )
    seed: int = 0

    @field_validator("mode", mode="before")
    @classmethod
    def _parse_mode(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ConfigError(f"colour mode {v!r}: expected auto, a number K or single:CODE")
        if isinstance(v, int):
            k = v
        else:
            text = str(v).strip().lower()
            if text == "auto":
                return "auto"
            if text.startswith("single:"):
                return f"single:{find_color(text.split(':', 1)[1]).code}"
            if not text.isdigit():
                raise ConfigError(f"colour mode {v!r}: expected auto, a number K or single:CODE")
            k = int(text)
        if not 1 <= k <= 256:
            raise ConfigError(f"colour count {k} out of range; expected 1..256")
        return k

    @model_validator(mode="after")
    def _check_codes(self) -> ColorConfig:
        for code in self.palette or []:
            find_color(code)
        if isinstance(self.interior_color, int):
            find_color(self.interior_color)
        find_color(self.default_color)
        return self

    @property
    def single_code(self) -> int | None:
        if isinstance(self.mode, str) and self.mode.startswith("single:"):
            return int(self.mode.split(":", 1)[1])
        return None


def resolve_palette(config: ColorConfig) -> list[int]:
    """The codes assignment may use: the user palette (or :func:`solid_palette`), restricted to
    the colours of the inventory when one is given. Raises ConfigError when nothing is left."""
    table = load_colors()
    codes = list(dict.fromkeys(config.palette)) if config.palette else solid_palette()
    if config.inventory is not None:
        owned = {c for (_, c), q in load_inventory(config.inventory).items() if q > 0}
        if config.palette:
            codes = [c for c in codes if c in owned]
        else:
            # the inventory defines the palette: every opaque colour the user owns
            codes = sorted(c for c in owned if c in table and table[c].opaque_solid)
        if not codes:
            raise ConfigError("the inventory holds none of the palette's colours")
    return codes


# --------------------------------------------------------------------------------------------------
# Assignment


@dataclass
class ColorReport:
    """What :func:`assign_colors_report` chose.

    Attributes:
        codes: the LDraw codes used, most cells first.
        counts: cells per code (same order).
        requested: K asked for (``auto``: the K chosen), None for ``single``.
        mean_delta_e: mean CIEDE2000 between each visible cell's colour and its code.
        merged: centres that snapped onto a code another centre already took.
    """

    codes: list[int]
    counts: list[int]
    requested: int | None
    mean_delta_e: float
    merged: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _kmeans(
    x: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator, iters: int = 60
) -> np.ndarray:
    """Weighted k-means (k-means++ seeding, Lloyd iterations). x (n, d), w (n,) -> (k', d) centres."""
    n = len(x)
    if n <= k:
        return x.copy()
    first = rng.choice(n, p=w / w.sum())
    centres = [x[first]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        p = w * d2
        if p.sum() <= 0:
            break
        i = rng.choice(n, p=p / p.sum())
        centres.append(x[i])
        d2 = np.minimum(d2, ((x - x[i]) ** 2).sum(1))
    c = np.array(centres)
    labels = np.full(n, -1)
    for _ in range(iters):
        d = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None, :]
        new = d.argmin(1)
        if np.array_equal(new, labels):
            break
        labels = new
        wsum = np.bincount(labels, weights=w, minlength=len(c))
        keep = wsum > 0
        sums = np.stack([np.bincount(labels, weights=w * x[:, j], minlength=len(c)) for j in range(3)])
        c = (sums[:, keep] / wsum[keep]).T
        labels = np.searchsorted(np.flatnonzero(keep), labels)  # re-index after dropping empties
    return c


def _reduce(
    u_space: np.ndarray,
    counts: np.ndarray,
    codes: np.ndarray,
    pal_space: np.ndarray,
    k: int,
    metric: str,
    rng: np.random.Generator,
) -> tuple[np.ndarray, int]:
    """K-means the unique colours into k centres, snap each to its nearest palette code.

    Returns the distinct selected codes (sorted) and how many centres merged onto a taken code.
    """
    centres = _kmeans(u_space, counts.astype(np.float64), k, rng)
    idx, _ = _nearest(centres, pal_space, metric)
    chosen = np.unique(codes[idx])
    return chosen, len(centres) - len(chosen)


def _mean_de(u_lab: np.ndarray, counts: np.ndarray, pal_lab: np.ndarray) -> float:
    _, d = _nearest(u_lab, pal_lab, "ciede2000")
    return float((d * counts).sum() / counts.sum())


def _visible_surface(occ: np.ndarray, interior: np.ndarray | None) -> np.ndarray:
    """(nx, ny, nz) bool: filled cells with a face on the outside (not on a hollowed interior)."""
    outside = ~occ if interior is None else ~occ & ~interior
    pad = np.pad(outside, 1, constant_values=True)
    nb = (
        pad[:-2, 1:-1, 1:-1]
        | pad[2:, 1:-1, 1:-1]
        | pad[1:-1, :-2, 1:-1]
        | pad[1:-1, 2:, 1:-1]
        | pad[1:-1, 1:-1, :-2]
        | pad[1:-1, 1:-1, 2:]
    )
    return occ & nb


# Error shares: Floyd-Steinberg within the layer (3/4 of the error) plus the cell above (1/4).
_DITHER_OFFSETS = np.array([[1, 0, 0], [-1, 1, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
_DITHER_WEIGHTS = np.array([7 / 16 * 0.75, 3 / 16 * 0.75, 5 / 16 * 0.75, 1 / 16 * 0.75, 0.25])


@njit(cache=True)
def _diffuse(values: np.ndarray, nbr: np.ndarray, weights: np.ndarray, pal: np.ndarray) -> np.ndarray:
    """Error diffusion in raster order. values (n, 3) target colours, nbr (n, 5) later neighbours
    (-1 absent), pal (p, 3): all in Oklab. Returns (n,) palette indices."""
    n = values.shape[0]
    acc = values.copy()
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        best, bd = 0, 1e30
        for j in range(pal.shape[0]):
            d = 0.0
            for c in range(3):
                t = acc[i, c] - pal[j, c]
                d += t * t
            if d < bd:
                bd, best = d, j
        out[i] = best
        wsum = 0.0
        for m in range(nbr.shape[1]):
            if nbr[i, m] >= 0:
                wsum += weights[m]
        if wsum == 0.0:
            continue
        for c in range(3):
            err = acc[i, c] - pal[best, c]
            for m in range(nbr.shape[1]):
                k = nbr[i, m]
                if k >= 0:
                    acc[k, c] += err * weights[m] / wsum
        # keep accumulated targets inside the Oklab range of real colours
        acc[i, 0] = min(max(acc[i, 0], 0.0), 1.0)
    return out


def _dither(
    cells: np.ndarray, rgb: np.ndarray, shape: tuple[int, ...], pal_rgb: np.ndarray
) -> np.ndarray:
    """Palette indices (k,) for surface cells (k, 3) in (z, y, x) raster order (see _diffuse)."""
    order = np.lexsort((cells[:, 0], cells[:, 1], cells[:, 2]))
    cells_o = cells[order]
    index = np.full(shape, -1, dtype=np.int64)
    index[cells_o[:, 0], cells_o[:, 1], cells_o[:, 2]] = np.arange(len(cells_o))
    pad = np.pad(index, 1, constant_values=-1)
    nbr = np.stack([pad[tuple((cells_o + 1 + off).T)] for off in _DITHER_OFFSETS], axis=1).astype(
        np.int64
    )
    idx = _diffuse(srgb_to_oklab(rgb[order]), nbr, _DITHER_WEIGHTS, srgb_to_oklab(pal_rgb))
    out = np.empty_like(idx)
    out[order] = idx
    return out


def assign_colors_report(
    grid: VoxelGrid, config: ColorConfig | None = None
) -> tuple[np.ndarray, ColorReport]:
    """:func:`assign_colors` plus a report of the codes chosen (see :class:`ColorReport`)."""
    config = config or ColorConfig()
    occ = grid.occupancy
    if grid.interior is not None:
        occ = occ & ~grid.interior
    out = np.full(grid.shape, -1, dtype=np.int32)
    n = int(occ.sum())
    single = config.single_code
    if single is None and grid.colors is None:
        single = config.default_color
        log.info("grid has no colours; using colour %d for every part", single)
    if single is not None:
        out[occ] = single
        return out, ColorReport([single], [n], None, float("nan"))
    if n == 0:
        return out, ColorReport([], [], None, float("nan"))

    assert grid.colors is not None
    codes, pal_rgb = _palette_array(resolve_palette(config))
    metric = config.metric
    visible = _visible_surface(occ, grid.interior)
    cell_idx = np.argwhere(occ)
    rgb = grid.colors[occ].astype(np.float64)
    hist_rgb, hist_n = _histogram_rgb(rgb)
    h_space, pal_space = _to_space(hist_rgb, metric), _to_space(pal_rgb, metric)
    h_lab, pal_lab = srgb_to_lab(hist_rgb), srgb_to_lab(pal_rgb)
    rng = np.random.default_rng(config.seed)

    merged = 0
    if config.mode == "auto":
        full_idx, _ = _nearest(h_space, pal_space, metric)
        n_full = len(np.unique(full_idx))
        floor = _mean_de(h_lab, hist_n, pal_lab)
        requested = 1
        for k in range(1, config.max_auto_colors + 1):
            chosen, merged = _reduce(h_space, hist_n, codes, pal_space, k, metric, rng)
            sel = np.isin(codes, chosen)
            requested = k
            if (
                len(chosen) >= n_full
                or _mean_de(h_lab, hist_n, pal_lab[sel]) - floor <= config.auto_threshold
            ):
                break
    else:
        requested = int(config.mode)
        chosen, merged = _reduce(h_space, hist_n, codes, pal_space, requested, metric, rng)
    if merged:
        log.info("%d of %d colour centres snapped onto an already chosen code", merged, requested)
    sel = np.isin(codes, chosen)
    codes, pal_rgb, pal_space, pal_lab = codes[sel], pal_rgb[sel], pal_space[sel], pal_lab[sel]

    u, inv, _ = _unique_rgb(rgb)
    u_pick, _ = _nearest(_to_space(u, metric), pal_space, metric)
    pick = u_pick[inv]
    vis_rows = visible[occ]
    if config.dither and vis_rows.any():
        pick[vis_rows] = _dither(cell_idx[vis_rows], rgb[vis_rows], grid.shape, pal_rgb)
    cell_codes = codes[pick]
    if config.interior_color != "nearest":
        cell_codes[~vis_rows] = int(config.interior_color)
    out[occ] = cell_codes
    if config.despeckle and not config.dither:
        out = despeckle(out, config.despeckle)
        cell_codes = out[occ]

    # report on what the visible surface looks like
    vis_rgb = rgb[vis_rows] if vis_rows.any() else rgb
    vis_pick = pick[vis_rows] if vis_rows.any() else pick
    de = ciede2000(srgb_to_lab(vis_rgb), pal_lab[vis_pick])
    used, cnt = np.unique(cell_codes, return_counts=True)
    order = np.argsort(-cnt, kind="stable")
    report = ColorReport(
        codes=[int(c) for c in used[order]],
        counts=[int(c) for c in cnt[order]],
        requested=requested,
        mean_delta_e=round(float(de.mean()), 4),
        merged=int(merged),
    )
    return out, report


def despeckle(codes: np.ndarray, max_cells: int = 2) -> np.ndarray:
    """Recolour small same-colour islands with the most common colour around them.

    Args:
        codes: (nx, ny, nz) int LDraw codes, -1 for empty.
        max_cells: islands (6-connected cells of one code) of at most this size are recoloured.

    Returns:
        A new code grid; empty cells and islands with no coloured neighbour stay as they were.
        Repeated until nothing changes (at most a few passes), so a speck inside a speck goes too.
    """
    from scipy import ndimage

    out = np.array(codes, copy=True)
    six = ndimage.generate_binary_structure(3, 1)
    for _ in range(4):
        changed = False
        for code in np.unique(out[out >= 0]):
            labels, n = ndimage.label(out == code, structure=six)
            if n == 0:
                continue
            sizes = np.bincount(labels.ravel())
            small = np.flatnonzero(sizes[1:] <= max_cells) + 1
            if len(small) == 0:
                continue
            specks = np.isin(labels, small)
            ring = ndimage.binary_dilation(specks, structure=six) & ~specks & (out >= 0)
            # the colour of the neighbourhood, per speck: majority vote of ring cells touching it
            ring_labels = ndimage.grey_dilation(np.where(specks, labels, 0), footprint=six)
            votes_at = ring & (ring_labels > 0)
            if not votes_at.any():
                continue
            speck_id = ring_labels[votes_at]
            neighbour = out[votes_at]
            pairs, counts = np.unique(np.c_[speck_id, neighbour], axis=0, return_counts=True)
            best: dict[int, tuple[int, int]] = {}
            for (sid, col), cnt in zip(pairs.tolist(), counts.tolist(), strict=True):
                if col != code and cnt > best.get(sid, (-1, 0))[1]:
                    best[sid] = (col, cnt)
            if not best:
                continue
            lut = np.full(n + 1, -2, dtype=np.int64)
            for sid, (col, _) in best.items():
                lut[sid] = col
            new = lut[labels]
            hit = specks & (new >= 0)
            if hit.any():
                out[hit] = new[hit]
                changed = True
        if not changed:
            break
    return out


def assign_colors(grid: VoxelGrid, config: ColorConfig | None = None) -> np.ndarray:
    """One LDraw colour code per filled cell.

    Args:
        grid: (nx, ny, nz) occupancy with sRGB ``colors`` (or none: then ``default_color``).
        config: see :class:`ColorConfig`.

    Returns:
        (nx, ny, nz) int32 LDraw codes, -1 where empty or in ``grid.interior``.

    K colours: the cells' colours, binned to 5 bits per channel (bin mean, weighted by count),
    are clustered with seeded k-means in the metric's space (CIELAB for ciede2000, Oklab for
    oklab); each centre snaps to its nearest palette colour; centres that land on the same code
    merge (fewer than K colours, logged and reported). Every cell then takes its nearest colour
    (at 8-bit precision) among the chosen codes.
    ``auto`` tries K = 1, 2, ... up to ``max_auto_colors`` and keeps the first K whose mean
    CIEDE2000 is within ``auto_threshold`` of matching against the whole palette (or that already
    uses every code the whole-palette match uses). Dithering diffuses the Oklab error over the
    visible surface cells in (z, y, x) raster order: Floyd-Steinberg shares within the layer
    (3/4) and the cell above (1/4), renormalised over the neighbours that are visible cells.
    """
    return assign_colors_report(grid, config)[0]
