"""Colour assignment for a grid: exact colours, K-colour reduction, dithering, despeckling."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from voxforge.bricks.colors.assign import (
    ColorConfig,
    assign_colors,
    assign_colors_report,
)
from voxforge.bricks.colors.palette import load_colors, solid_palette
from voxforge.core.color import linear_to_srgb, srgb_to_oklab
from voxforge.core.errors import ConfigError
from voxforge.core.voxelgrid import VoxelGrid

# ---------------------------------------------------------------------------------------------
# config


def test_config_modes() -> None:
    assert ColorConfig(mode="auto").mode == "auto"
    assert ColorConfig(mode="8").mode == 8
    assert ColorConfig(mode=5).mode == 5
    cfg = ColorConfig(mode="single:4")
    assert cfg.mode == "single:4" and cfg.single_code == 4
    assert ColorConfig(mode="single:Dark Bluish Grey").single_code == 72
    with pytest.raises(ConfigError, match=r"9999.*close matches"):
        ColorConfig(mode="single:9999")
    with pytest.raises(ConfigError, match="9999"):
        ColorConfig(palette=[4, 9999])
    with pytest.raises(ConfigError, match="expected auto"):
        ColorConfig(mode="many")
    with pytest.raises(ConfigError, match="out of range"):
        ColorConfig(mode="0")
    with pytest.raises(Exception, match="extra"):
        ColorConfig(colours=3)  # type: ignore[call-arg]


# ---------------------------------------------------------------------------------------------
# assignment


def _grid_two_halves(n: int = 6) -> VoxelGrid:
    """A solid n^3 cube: red x < n/2, blue x >= n/2 (exact LDraw red/blue)."""
    occ = np.ones((n, n, n), dtype=bool)
    t = load_colors()
    col = np.empty((n, n, n, 3), dtype=np.float32)
    col[: n // 2] = t[4].srgb
    col[n // 2 :] = t[1].srgb
    return VoxelGrid(occ, colors=col)


def test_assign_no_colors_gives_default() -> None:
    occ = np.zeros((3, 3, 3), dtype=bool)
    occ[1, 1, :] = True
    out = assign_colors(VoxelGrid(occ))
    assert out.dtype == np.int32 and out.shape == (3, 3, 3)
    assert (out[occ] == 71).all() and (out[~occ] == -1).all()
    out = assign_colors(VoxelGrid(occ), ColorConfig(default_color=15))
    assert (out[occ] == 15).all()


def test_assign_single_and_interior() -> None:
    g = _grid_two_halves()
    interior = np.zeros(g.shape, dtype=bool)
    interior[2:4, 2:4, 2:4] = True
    g = VoxelGrid(g.occupancy & ~interior, colors=g.colors, interior=interior)
    out = assign_colors(g, ColorConfig(mode="single:14"))
    assert (out[g.occupancy] == 14).all()
    assert (out[interior] == -1).all()


def test_assign_exact_two_colours() -> None:
    g = _grid_two_halves()
    for mode in ("auto", 2, 8):
        out, rep = assign_colors_report(g, ColorConfig(mode=mode))
        assert (out[:3] == 4).all() and (out[3:] == 1).all()
        assert sorted(rep.codes) == [1, 4] and rep.counts == [108, 108]
        assert rep.mean_delta_e == 0.0
    out, rep = assign_colors_report(g, ColorConfig(mode=1))
    assert len(np.unique(out)) == 1 and rep.requested == 1


def test_assign_k_reduces_and_is_deterministic(rng: np.random.Generator) -> None:
    occ = np.ones((10, 10, 10), dtype=bool)
    col = rng.random((10, 10, 10, 3)).astype(np.float32)
    g = VoxelGrid(occ, colors=col)
    a, rep = assign_colors_report(g, ColorConfig(mode=5, seed=3))
    b = assign_colors(g, ColorConfig(mode=5, seed=3))
    np.testing.assert_array_equal(a, b)
    used = np.unique(a)
    assert 1 <= len(used) <= 5 and len(used) + rep.merged == 5
    assert set(used.tolist()) <= set(solid_palette())
    # uniform noise never gets close to the full-palette match: auto runs up to its cap
    _, auto_rep = assign_colors_report(g, ColorConfig(mode="auto"))
    assert auto_rep.requested == 12 and len(auto_rep.codes) + auto_rep.merged == 12
    assert auto_rep.mean_delta_e < rep.mean_delta_e  # more colours, closer match


def test_auto_picks_few_colours_for_few_clusters(rng: np.random.Generator) -> None:
    t = load_colors()
    base = np.stack([t[c].srgb for c in (4, 14, 1)])
    occ = np.ones((9, 9, 9), dtype=bool)
    lab = rng.integers(0, 3, size=occ.shape)
    col = base[lab] + rng.normal(0, 0.01, size=(*occ.shape, 3))
    # per-cell random labels are all specks: despeckling is off to test the clustering alone
    cfg = ColorConfig(despeckle=0)
    out, rep = assign_colors_report(VoxelGrid(occ, colors=np.clip(col, 0, 1)), cfg)
    assert sorted(rep.codes) == [1, 4, 14] and rep.requested == 3
    np.testing.assert_array_equal(out, np.array([4, 14, 1])[lab])


def test_assign_palette_restriction_and_interior_color() -> None:
    g = _grid_two_halves()
    out = assign_colors(g, ColorConfig(mode=8, palette=[0, 320, 272]))
    assert (out[:3] == 320).all() and (out[3:] == 272).all()  # dark red, dark blue
    out = assign_colors(g, ColorConfig(mode=8, interior_color=71))
    hidden = np.zeros(g.shape, dtype=bool)
    hidden[1:-1, 1:-1, 1:-1] = True
    assert (out[hidden] == 71).all()
    assert (out[:3][~hidden[:3]] == 4).all()


def test_dither_mixes_two_colours() -> None:
    """A black-to-white ramp along x, reduced to black and white: dithering mixes the two in
    proportion to the ramp, the plain match is a hard step."""
    n = 24
    occ = np.zeros((n, n, 2), dtype=bool)
    occ[:, :, 0] = True
    ramp = linear_to_srgb(np.linspace(0.0, 1.0, n), np.float64)  # linear-light ramp
    col = np.broadcast_to(ramp[:, None, None, None], (n, n, 2, 3)).astype(np.float32)
    g = VoxelGrid(occ, colors=col)
    cfg = ColorConfig(mode=2, palette=[0, 15], dither=True)
    out = assign_colors(g, cfg)
    white = (out[:, :, 0] == 15).mean(axis=1)  # fraction white per x column
    assert white[0] == 0.0 and white[-1] == 1.0
    mixed = (white > 0.1) & (white < 0.9)
    assert mixed.sum() >= n // 2  # most columns mix both colours
    # the error is diffused in Oklab, so the white fraction follows perceptual lightness L
    # (LDraw black #1B2A34 and white #F4F4F4 bound the reachable range)
    t = load_colors()
    lb, lw = srgb_to_oklab(np.stack([t[0].srgb, t[15].srgb]))[:, 0]
    lightness = srgb_to_oklab(np.repeat(ramp[:, None], 3, axis=1))[:, 0]
    expected = np.clip((lightness - lb) / (lw - lb), 0, 1)
    assert np.corrcoef(white, expected)[0, 1] > 0.95
    assert np.abs(white - expected).mean() < 0.08
    np.testing.assert_array_equal(out, assign_colors(g, cfg))  # deterministic
    plain = assign_colors(g, cfg.model_copy(update={"dither": False}))
    plain_white = (plain[:, :, 0] == 15).mean(axis=1)
    assert set(np.unique(plain_white).tolist()) == {0.0, 1.0}  # a hard step


def test_merged_centres_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    g = _grid_two_halves()
    with caplog.at_level(logging.INFO, logger="voxforge.bricks.colors.assign"):
        _, rep = assign_colors_report(g, ColorConfig(mode=2, palette=[15]))
    assert rep.codes == [15] and rep.merged == 1
    assert "snapped onto" in caplog.text


def test_despeckle_recolours_small_islands_only():
    import numpy as np

    from voxforge.bricks.colors.assign import despeckle

    codes = np.full((6, 6, 3), 4, dtype=np.int32)
    codes[2, 2, 1] = 19  # a one-cell speck inside red
    codes[0:3, 0:3, 0] = 1  # a 9-cell blue patch stays
    codes[5, 5, 2] = -1  # empty stays empty
    out = despeckle(codes, 2)
    assert out[2, 2, 1] == 4
    assert (out[0:3, 0:3, 0] == 1).all()
    assert out[5, 5, 2] == -1
    assert (out[codes == 4] == 4).all()


def test_assign_colors_despeckles_scan_noise():
    import numpy as np

    from voxforge.bricks.colors.assign import ColorConfig, assign_colors
    from voxforge.core import VoxelGrid

    rng = np.random.default_rng(0)
    occ = np.ones((8, 8, 8), bool)
    colors = np.zeros((8, 8, 8, 3), np.float32)
    colors[...] = [0.8, 0.05, 0.05]
    speck = rng.random((8, 8, 8)) < 0.03
    colors[speck] = [0.85, 0.75, 0.55]
    grid = VoxelGrid(occ, colors=colors)
    noisy = assign_colors(grid, ColorConfig(mode=2, despeckle=0))
    clean = assign_colors(grid, ColorConfig(mode=2))
    assert len(np.unique(noisy)) == 2
    assert len(np.unique(clean)) == 1
