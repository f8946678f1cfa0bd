"""A user's inventory restricts the palette; unreadable inventories fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxforge.bricks.colors.assign import (
    ColorConfig,
    resolve_palette,
)
from voxforge.bricks.colors.inventory import load_inventory
from voxforge.core.errors import ConfigError, InputFormatError


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
