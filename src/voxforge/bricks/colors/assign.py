"""Colour assignment for a grid: one LDraw colour code per filled cell.

:func:`assign_colors` turns a coloured :class:`~voxforge.core.voxelgrid.VoxelGrid` into LDraw codes
from a palette (all solid colours, a list, or the colours of a user's inventory), optionally
reduced to K colours by k-means, dithered, and despeckled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numba import njit
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from voxforge.bricks.colors.inventory import load_inventory
from voxforge.bricks.colors.match import (
    Metric,
    nearest,
    palette_array,
    to_space,
    unique_rgb,
)
from voxforge.bricks.colors.palette import find_color, load_colors, solid_palette
from voxforge.core.color import ciede2000, srgb_to_lab, srgb_to_oklab
from voxforge.core.errors import ConfigError
from voxforge.core.voxelgrid import VoxelGrid

log = logging.getLogger(__name__)


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
            (:data:`~voxforge.bricks.colors.match.OKLAB_LIGHTNESS_SCALE`), so shaded texture and
            scan colours keep their hue (a mustard-yellow banana is Yellow). It is the default
            because CIEDE2000 is built for small differences: across the large gaps between LEGO
            colours its blue-region hue term sends saturated blue (30, 30, 200) to Black instead
            of Blue.
        dither: 3-D error diffusion over the visible surface cells.
        palette: LDraw codes to use instead of
            :func:`~voxforge.bricks.colors.palette.solid_palette`.
        inventory: the user's parts (file or dict, see
            :func:`~voxforge.bricks.colors.inventory.load_inventory`); only colours they own
            (quantity > 0) are used.
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
    """The codes assignment may use: the user palette (or
    :func:`~voxforge.bricks.colors.palette.solid_palette`), restricted to the colours of the
    inventory when one is given. Raises ConfigError when nothing is left."""
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
    idx, _ = nearest(centres, pal_space, metric)
    chosen = np.unique(codes[idx])
    return chosen, len(centres) - len(chosen)


def _mean_de(u_lab: np.ndarray, counts: np.ndarray, pal_lab: np.ndarray) -> float:
    _, d = nearest(u_lab, pal_lab, "ciede2000")
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
    codes, pal_rgb = palette_array(resolve_palette(config))
    metric = config.metric
    visible = _visible_surface(occ, grid.interior)
    cell_idx = np.argwhere(occ)
    rgb = grid.colors[occ].astype(np.float64)
    hist_rgb, hist_n = _histogram_rgb(rgb)
    h_space, pal_space = to_space(hist_rgb, metric), to_space(pal_rgb, metric)
    h_lab, pal_lab = srgb_to_lab(hist_rgb), srgb_to_lab(pal_rgb)
    rng = np.random.default_rng(config.seed)

    merged = 0
    if config.mode == "auto":
        full_idx, _ = nearest(h_space, pal_space, metric)
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

    u, inv, _ = unique_rgb(rgb)
    u_pick, _ = nearest(to_space(u, metric), pal_space, metric)
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
