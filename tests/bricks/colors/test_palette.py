"""The LDraw colour table: parsing LDConfig, lookups, the curated palette, part colours."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from voxforge.bricks.colors.palette import find_color, load_colors, parse_ldconfig, solid_palette
from voxforge.core.errors import ConfigError, InputFormatError

REPO = Path(__file__).resolve().parents[3]


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
        parse_ldconfig(bad)
    bad.write_text("0 !COLOUR Red CODE 4 VALUE #GG0000 EDGE #333333\n")
    with pytest.raises(InputFormatError, match=r"LDConfig.ldr:1"):
        parse_ldconfig(bad)
    with pytest.raises(InputFormatError, match="cannot read"):
        parse_ldconfig(tmp_path / "missing.ldr")


def test_find_color() -> None:
    assert find_color(4).name == "Red"
    assert find_color("light bluish grey").code == 71
    assert find_color("Dark_Bluish_Grey").code == 72
    with pytest.raises(ConfigError, match=r"9999.*close matches"):
        find_color(9999)
    with pytest.raises(ConfigError, match=r"Light Bluish Grey"):
        find_color("light blush grey")


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
