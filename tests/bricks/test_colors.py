"""Colour table, colour science and colour assignment."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from voxforge.bricks import colors as C
from voxforge.bricks.colors import (
    ColorConfig,
    assign_colors,
    assign_colors_report,
    ciede2000,
    find_color,
    load_colors,
    load_inventory,
    match_colors,
    resolve_palette,
    solid_palette,
    srgb_to_lab,
    srgb_to_oklab,
)
from voxforge.core.errors import ConfigError, InputFormatError
from voxforge.core.voxelgrid import VoxelGrid

REPO = Path(__file__).resolve().parents[2]

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
# table


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "make_color_table", REPO / "scripts" / "make_color_table.py"
    )
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def test_colors_json_is_reproducible(shared_data: Path) -> None:
    mod = _load_script()
    fresh = mod.render(mod.build_table(shared_data / "ldraw" / "LDConfig.ldr"))
    committed = (REPO / "src" / "voxforge" / "data" / "colors.json").read_text(encoding="utf-8")
    assert fresh == committed, "colors.json is stale: run scripts/make_color_table.py"


def test_table_values_from_ldconfig() -> None:
    t = load_colors()
    assert len(t) == 212
    assert t[4].name == "Red" and t[4].rgb == "#B40000" and t[4].finish == "solid"
    assert t[71].name == "Light Bluish Grey" and t[71].bricklink_id == 86
    assert t[71].bricklink_source == "LEGO_FACTS" and t[71].lego_id == 194
    assert t[47].finish == "transparent" and t[47].alpha == 128 and t[47].rebrickable_id is None
    assert t[383].finish == "chrome" and t[135].finish == "pearlescent" and t[80].finish == "metal"
    assert t[79].finish == "milky" and t[21].finish == "glow" and t[117].finish == "glitter"
    assert t[75].finish == "speckle" and t[256].finish == "rubber" and t[67].finish == "rubber"
    assert t[16].finish == "special" and t[24].finish == "special"
    assert t[3].bricklink_id == 39 and t[3].bricklink_source == "extra"
    np.testing.assert_allclose(t[15].srgb, [244 / 255] * 3)


def test_bricklink_facts_table_complete() -> None:
    # every row of the LEGO_FACTS.md table, exactly
    facts = {15: 1, 19: 2, 14: 3, 25: 4, 4: 5, 2: 6, 1: 7, 0: 11, 27: 34, 10: 36, 73: 42, 378: 48,
             320: 59, 272: 63, 484: 68, 28: 69, 288: 80, 72: 85, 71: 86, 70: 88, 308: 120}  # fmt: skip
    t = load_colors()
    got = {c.code: c.bricklink_id for c in t.values() if c.bricklink_source == "LEGO_FACTS"}
    assert got == facts
    ids = [c.bricklink_id for c in t.values() if c.bricklink_id is not None]
    assert len(ids) == len(set(ids)), "BrickLink ids must be unique"
    assert all(t[c.code].finish == "solid" for c in t.values() if c.bricklink_id is not None)


def test_rebrickable_only_for_solid() -> None:
    for c in load_colors().values():
        if c.finish == "solid":
            assert c.rebrickable_id == c.code
            assert c.rebrickable_source in ("ldraw-code", "ldraw-code-unverified")
        else:
            assert c.rebrickable_id is None and c.rebrickable_source is None


def test_solid_palette_is_opaque_and_curated() -> None:
    pal = solid_palette()
    t = load_colors()
    assert 25 <= len(pal) <= 40 and len(set(pal)) == len(pal)
    assert all(t[c].opaque_solid for c in pal)
    assert {0, 1, 4, 14, 15, 71, 72}.issubset(pal)
    assert 7 not in pal  # retired old grey


def test_parse_ldconfig_errors(tmp_path: Path) -> None:
    bad = tmp_path / "LDConfig.ldr"
    bad.write_text("0 nothing here\n")
    with pytest.raises(InputFormatError, match="no !COLOUR"):
        C.parse_ldconfig(bad)
    bad.write_text("0 !COLOUR Red CODE 4 VALUE #GG0000 EDGE #333333\n")
    with pytest.raises(InputFormatError, match=r"LDConfig.ldr:1"):
        C.parse_ldconfig(bad)
    with pytest.raises(InputFormatError, match="cannot read"):
        C.parse_ldconfig(tmp_path / "missing.ldr")


def test_find_color() -> None:
    assert find_color(4).name == "Red"
    assert find_color("light bluish grey").code == 71
    assert find_color("Dark_Bluish_Grey").code == 72
    with pytest.raises(ConfigError, match=r"9999.*close matches"):
        find_color(9999)
    with pytest.raises(ConfigError, match=r"Light Bluish Grey"):
        find_color("light blush grey")


# ---------------------------------------------------------------------------------------------
# colour science


def test_ciede2000_sharma_pairs() -> None:
    d = np.array(SHARMA)
    got = ciede2000(d[:, 0:3], d[:, 3:6])
    np.testing.assert_allclose(got, d[:, 6], atol=5e-5)
    # symmetric
    np.testing.assert_allclose(ciede2000(d[:, 3:6], d[:, 0:3]), d[:, 6], atol=5e-5)
    # the compiled scalar version used for nearest-colour search gives the same numbers
    scalar = [C._nearest_de00(row[None, 0:3].copy(), row[None, 3:6].copy())[1][0] for row in d]
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


def test_inventory_restricts_palette(tmp_path: Path) -> None:
    inv = {"3001": {"4": 10, "1": 5}, "3003": {"15": 2, "47": 4, "14": 0}}
    cfg = ColorConfig(inventory=inv)
    assert resolve_palette(cfg) == [1, 4, 15]  # trans-clear 47 is not opaque; 14 has qty 0
    assert resolve_palette(ColorConfig(inventory=inv, palette=[4, 14, 0])) == [4]
    with pytest.raises(ConfigError, match="none of the palette"):
        resolve_palette(ColorConfig(inventory=inv, palette=[0]))

    csv_path = tmp_path / "inv.csv"
    csv_path.write_text("Part,Color,Quantity\n3001,4,3\n3001,4,2\n3004,72,1\n")
    assert load_inventory(csv_path) == {("3001", 4): 5, ("3004", 72): 1}
    xml_path = tmp_path / "inv.xml"
    xml_path.write_text(
        "<INVENTORY><ITEM><ITEMTYPE>P</ITEMTYPE><ITEMID>3001</ITEMID><COLOR>5</COLOR>"
        "<MINQTY>4</MINQTY></ITEM><ITEM><ITEMID>3003</ITEMID><COLOR>86</COLOR><QTY>2</QTY></ITEM>"
        "</INVENTORY>"
    )
    assert load_inventory(xml_path) == {("3001", 4): 4, ("3003", 71): 2}
    yml = tmp_path / "inv.yaml"
    yml.write_text("'3001': {4: 2}\n")
    assert resolve_palette(ColorConfig(inventory=yml)) == [4]
    # a config loaded from YAML: unquoted part numbers are ints there
    import yaml

    cfg = ColorConfig(**yaml.safe_load("mode: '4'\ninventory: {3001: {4: 10}, 3070b: {14: 1}}"))
    assert cfg.mode == 4 and resolve_palette(cfg) == [4, 14]
    bad = tmp_path / "inv.csv"
    bad.write_text("Part,Colour\n3001,4\n")
    with pytest.raises(InputFormatError, match=r"inv.csv.*Part,Color,Quantity"):
        load_inventory(bad)
    with pytest.raises(InputFormatError, match="not found"):
        load_inventory(tmp_path / "nope.csv")
    with pytest.raises(InputFormatError, match="extension"):
        load_inventory(_touch(tmp_path / "x.txt"))


def _touch(p: Path) -> Path:
    p.write_text("")
    return p


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
    ramp = C.linear_to_srgb(np.linspace(0.0, 1.0, n))  # linear-light ramp
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
    with caplog.at_level(logging.INFO, logger="voxforge.bricks.colors"):
        _, rep = assign_colors_report(g, ColorConfig(mode=2, palette=[15]))
    assert rep.codes == [15] and rep.merged == 1
    assert "snapped onto" in caplog.text


def test_colors_json_parses() -> None:
    data = json.loads((REPO / "src" / "voxforge" / "data" / "colors.json").read_text())
    assert data["generated_by"] == "scripts/make_color_table.py"


# ---------------------------------------------------------------------------------------------
# part colour availability


def test_part_colors_cover_catalogue(shared_data: Path) -> None:
    from voxforge.bricks.catalogue import _part_colors_table, catalogue, is_available, part_colors

    table = load_colors()
    for key in catalogue():
        codes = part_colors(key)
        assert len(codes) >= 20, key  # basic parts exist in many colours
        assert {0, 4, 14, 15, 71, 72}.issubset(codes), key
    for key, codes in _part_colors_table().items():
        assert (shared_data / "ldraw" / "library" / "parts" / f"{key}.dat").is_file(), key
        assert all(c in table and table[c].finish not in ("special", "rubber") for c in codes)
    assert is_available("3001", 4) and is_available("3001", "4")  # type: ignore[arg-type]
    assert not is_available("3001", 47)  # no trans-clear 2 x 4 brick in the data
    assert is_available("3070b", 297)  # pearl gold 1 x 1 tile
    with pytest.raises(ConfigError, match="unknown part"):
        part_colors("3001x")


def test_part_colors_json_documents_source() -> None:
    data = json.loads((REPO / "src" / "voxforge" / "data" / "part_colors.json").read_text())
    assert data["source"].startswith("curated from public part databases")
    for key, codes in data["parts"].items():
        assert codes == sorted(set(codes)), key


def test_saturated_blue_is_lego_blue_by_default():
    """CIEDE2000 sends (30, 30, 200) to Black; the default metric must not."""
    import numpy as np

    from voxforge.bricks.colors import ColorConfig, match_colors, solid_palette

    cfg = ColorConfig()
    rgb = np.array([[30, 30, 200], [0, 0, 255], [200, 30, 30]]) / 255.0
    assert match_colors(rgb, solid_palette(), metric=cfg.metric).tolist() == [1, 1, 4]


def test_despeckle_recolours_small_islands_only():
    import numpy as np

    from voxforge.bricks.colors import despeckle

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

    from voxforge.bricks.colors import ColorConfig, assign_colors
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


def _shaded_palette(scales: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each solid palette colour scaled in linear light, with and without noise; (rgb, codes)."""
    from voxforge.core.color import linear_to_srgb, srgb_to_linear

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
    plain = C._palette_array(pal)
    x, p = srgb_to_oklab(rgb), srgb_to_oklab(plain[1])
    plain_hits = float((plain[0][((x[:, None] - p[None]) ** 2).sum(-1).argmin(1)] == want).mean())
    assert hits["oklab"] >= hits["ciede2000"] - 0.01
    assert hits["oklab"] >= plain_hits + 0.03
    banana, blue = (194, 165, 18), (30, 30, 200)
    got = match_colors(np.array([banana, (185, 157, 17), blue]) / 255.0, pal, metric="oklab")
    np.testing.assert_array_equal(got, [14, 14, 1])  # Yellow, Yellow, Blue
    assert match_colors(np.array([blue]) / 255.0, pal, metric="ciede2000")[0] == 0  # Black
