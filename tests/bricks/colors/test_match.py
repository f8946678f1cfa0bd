"""Colour science and nearest-colour matching: CIEDE2000 against Sharma et al., CIELAB/Oklab, the
Oklab lightness weight."""

from __future__ import annotations

import numpy as np
import pytest

from voxforge.bricks.colors.assign import (
    ColorConfig,
)
from voxforge.bricks.colors.match import _nearest_de00, match_colors, palette_array
from voxforge.bricks.colors.palette import load_colors, solid_palette
from voxforge.core.color import ciede2000, linear_to_srgb, srgb_to_lab, srgb_to_oklab
from voxforge.core.errors import ConfigError

# Sharma, Wu & Dalal (2005), Table 1: CIEDE2000 test data (L1 a1 b1, L2 a2 b2, dE00).
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


# ---------------------------------------------------------------------------------------------
# colour science


def test_ciede2000_sharma_pairs() -> None:
    d = np.array(SHARMA)
    got = ciede2000(d[:, 0:3], d[:, 3:6])
    np.testing.assert_allclose(got, d[:, 6], atol=5e-5)
    # symmetric
    np.testing.assert_allclose(ciede2000(d[:, 3:6], d[:, 0:3]), d[:, 6], atol=5e-5)
    # the compiled scalar version used for nearest-colour search gives the same numbers
    scalar = [_nearest_de00(row[None, 0:3].copy(), row[None, 3:6].copy())[1][0] for row in d]
    np.testing.assert_allclose(scalar, d[:, 6], atol=5e-5)


def test_lab_and_oklab_reference_values() -> None:
    lab = srgb_to_lab(np.array([[1.0, 0, 0], [1, 1, 1], [0, 0, 0]]))
    np.testing.assert_allclose(lab[0], [53.2408, 80.0925, 67.2032], atol=2e-3)
    np.testing.assert_allclose(lab[1], [100, 0, 0], atol=2e-3)
    np.testing.assert_allclose(lab[2], [0, 0, 0], atol=1e-9)
    ok = srgb_to_oklab(np.array([[1.0, 0, 0], [1, 1, 1]]))
    np.testing.assert_allclose(ok[0], [0.627955, 0.224863, 0.125846], atol=1e-5)
    np.testing.assert_allclose(ok[1], [1, 0, 0], atol=1e-4)


def test_match_colors_exact_palette_entries() -> None:
    t = load_colors()
    pal = solid_palette()
    rgb = np.stack([t[c].srgb for c in pal])
    for metric in ("ciede2000", "oklab"):
        np.testing.assert_array_equal(match_colors(rgb, pal, metric=metric), pal)


def test_match_colors_nearest() -> None:
    rgb = np.array([[0.9, 0.05, 0.05], [0.05, 0.05, 0.05], [0.98, 0.98, 0.98], [0.2, 0.3, 0.8]])
    got = match_colors(rgb, [0, 1, 4, 15])
    np.testing.assert_array_equal(got, [4, 0, 15, 1])
    assert match_colors(np.zeros((0, 3)), [4]).shape == (0,)
    with pytest.raises(ConfigError, match="9999"):
        match_colors(rgb, [4, 9999])
    with pytest.raises(ConfigError, match="metric"):
        match_colors(rgb, [4], metric="rgb")  # type: ignore[arg-type]


def test_match_colors_agrees_with_brute_force(rng: np.random.Generator) -> None:
    rgb = rng.random((500, 3))
    pal = solid_palette()
    t = load_colors()
    pal_lab = srgb_to_lab(np.stack([t[c].srgb for c in pal]))
    q = np.rint(rgb * 255) / 255
    brute = np.array(pal)[ciede2000(srgb_to_lab(q)[:, None], pal_lab[None]).argmin(1)]
    np.testing.assert_array_equal(match_colors(rgb, pal), brute)


def test_saturated_blue_is_lego_blue_by_default():
    """CIEDE2000 sends (30, 30, 200) to Black; the default metric must not."""
    import numpy as np

    from voxforge.bricks.colors.match import match_colors
    from voxforge.bricks.colors.palette import solid_palette

    cfg = ColorConfig()
    rgb = np.array([[30, 30, 200], [0, 0, 255], [200, 30, 30]]) / 255.0
    assert match_colors(rgb, solid_palette(), metric=cfg.metric).tolist() == [1, 1, 4]


def _shaded_palette(scales: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each solid palette colour scaled in linear light, with and without noise; (rgb, codes)."""
    from voxforge.core.color import srgb_to_linear

    t, pal = load_colors(), solid_palette()
    rng = np.random.default_rng(0)
    rgb, want = [], []
    for code in pal:
        lin = srgb_to_linear(t[code].srgb, np.float64)
        for k in scales:
            for noisy in (False, True, True):
                noise = rng.normal(0.0, 0.01, 3) if noisy else 0.0
                rgb.append(linear_to_srgb(lin * k + noise, np.float64))
                want.append(code)
    return np.array(rgb), np.array(want)


def test_default_metric_keeps_the_hue_of_shaded_colours() -> None:
    """The default (lightness-weighted Oklab) finds shaded palette colours about as often as
    CIEDE2000 and clearly more often than plain Oklab, without CIEDE2000's blue -> Black."""
    rgb, want = _shaded_palette((0.8, 0.9, 1.0, 1.15))
    pal = solid_palette()
    hits = {m: float((match_colors(rgb, pal, metric=m) == want).mean()) for m in ("oklab", "ciede2000")}
    plain = palette_array(pal)
    x, p = srgb_to_oklab(rgb), srgb_to_oklab(plain[1])
    plain_hits = float((plain[0][((x[:, None] - p[None]) ** 2).sum(-1).argmin(1)] == want).mean())
    assert hits["oklab"] >= hits["ciede2000"] - 0.01
    assert hits["oklab"] >= plain_hits + 0.03
    banana, blue = (194, 165, 18), (30, 30, 200)
    got = match_colors(np.array([banana, (185, 157, 17), blue]) / 255.0, pal, metric="oklab")
    np.testing.assert_array_equal(got, [14, 14, 1])  # Yellow, Yellow, Blue
    assert match_colors(np.array([blue]) / 255.0, pal, metric="ciede2000")[0] == 0  # Black
