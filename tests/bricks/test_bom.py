"""Parts lists: exact rows and quantities, and every export parsed back."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pytest
from lxml import etree

from voxforge.bricks.bom import (
    CSV_COLUMNS,
    BomRow,
    bill_of_materials,
    write_bom_csv,
    write_bricklink_xml,
    write_rebrickable_csv,
)
from voxforge.bricks.colors.inventory import load_inventory
from voxforge.bricks.ldraw import read_ldraw
from voxforge.core.brickmodel import BrickModel, Placement
from voxforge.core.errors import ConfigError


def _model() -> BrickModel:
    P = Placement
    ps = [
        P("3001", 0, 0, 0, 4, 2, 3, 4),
        P("3001", 0, 2, 0, 4, 2, 3, 4),
        P("3001", 0, 0, 3, 4, 2, 3, 1),
        P("3001", 0, 2, 3, 4, 2, 3, 4),
        P("3024", 5, 0, 0, 1, 1, 1, 71),
        P("3024", 5, 1, 0, 1, 1, 1, 71),
        P("3024", 5, 2, 0, 1, 1, 1, 71),
        P("3070b", 5, 3, 0, 1, 1, 1, 47),  # trans-clear: no BrickLink/Rebrickable id in the table
        P("3039", 6, 0, 0, 2, 2, 3, 15),
        P("3003", 8, 0, 0, 2, 2, 3, 4),
    ]
    return BrickModel(ps, (10, 4, 6))


def test_bill_of_materials_rows() -> None:
    rows = bill_of_materials(_model())
    assert [(r.part, r.color, r.quantity) for r in rows] == [
        ("3001", 1, 1),
        ("3001", 4, 3),
        ("3003", 4, 1),
        ("3024", 71, 3),
        ("3039", 15, 1),
        ("3070b", 47, 1),
    ]
    assert rows[1] == BomRow("3001", "3001.dat", "3001", "Brick 2 x 4", 4, "Red", 5, 4, 3)
    assert rows[3].color_name == "Light Bluish Grey" and rows[3].bricklink_color == 86
    assert rows[5].bricklink_color is None and rows[5].rebrickable_color is None
    assert sum(r.quantity for r in rows) == len(_model())
    assert bill_of_materials(BrickModel([], (0, 0, 0))) == []


def test_unknown_colour_or_part() -> None:
    with pytest.raises(ConfigError, match="9999"):
        bill_of_materials(BrickModel([Placement("3001", 0, 0, 0, 4, 2, 3, 9999)], (4, 2, 3)))
    with pytest.raises(ConfigError, match="unknown part"):
        bill_of_materials(BrickModel([Placement("30011", 0, 0, 0, 4, 2, 3, 4)], (4, 2, 3)))


def test_bom_csv_round_trip(tmp_path: Path) -> None:
    rows = bill_of_materials(_model())
    path = tmp_path / "bom.csv"
    write_bom_csv(rows, path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        back = list(reader)
    assert len(back) == 6
    assert back[1] == {
        "part": "3001",
        "ldraw_id": "3001.dat",
        "bricklink_id": "3001",
        "name": "Brick 2 x 4",
        "color": "4",
        "color_name": "Red",
        "bricklink_color": "5",
        "rebrickable_color": "4",
        "quantity": "3",
    }
    assert back[5]["bricklink_color"] == "" and back[5]["quantity"] == "1"


def test_bricklink_xml(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = bill_of_materials(_model())
    path = tmp_path / "wanted.xml"
    with caplog.at_level(logging.WARNING, logger="voxforge.bricks.bom"):
        write_bricklink_xml(rows, path)
    raw = path.read_bytes()
    assert raw.startswith(b"<INVENTORY>") and b"<?xml" not in raw
    root = etree.fromstring(raw)
    items = [
        (i.findtext("ITEMTYPE"), i.findtext("ITEMID"), i.findtext("COLOR"), i.findtext("MINQTY"))
        for i in root.findall("ITEM")
    ]
    assert items == [
        ("P", "3001", "7", "1"),
        ("P", "3001", "5", "3"),
        ("P", "3003", "5", "1"),
        ("P", "3024", "86", "3"),
        ("P", "3039", "1", "1"),
        ("P", "3070b", None, "1"),
    ]
    assert "no BrickLink colour id for 1 row" in caplog.text and "3070b in 47" in caplog.text
    # the voxforge inventory reader reads it back (colour-less items do not restrict colours)
    assert load_inventory(path) == {
        ("3001", 1): 1,
        ("3001", 4): 3,
        ("3003", 4): 1,
        ("3024", 71): 3,
        ("3039", 15): 1,
    }


def test_rebrickable_csv(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = bill_of_materials(_model())
    path = tmp_path / "rb.csv"
    with caplog.at_level(logging.WARNING, logger="voxforge.bricks.bom"):
        write_rebrickable_csv(rows, path)
    with open(path, newline="", encoding="utf-8") as f:
        back = list(csv.reader(f))
    assert back == [
        ["Part", "Color", "Quantity"],
        ["3001", "1", "1"],
        ["3001", "4", "3"],
        ["3003", "4", "1"],
        ["3024", "71", "3"],
        ["3039", "15", "1"],
    ]
    assert "left out: 1 x 3070b in 47 Trans Clear" in caplog.text
    assert load_inventory(path)[("3001", 4)] == 3


def test_pyramid_bom(shared_data: Path) -> None:
    rows = bill_of_materials(read_ldraw(shared_data / "ldraw" / "models" / "pyramid.ldr"))
    assert [(r.part, r.color_name, r.bricklink_color, r.quantity) for r in rows] == [
        ("3001", "Blue", 7, 6),
        ("3001", "Red", 5, 4),
        ("3001", "Yellow", 3, 2),
        ("3003", "Black", 11, 1),
    ]


def test_writers_are_atomic(tmp_path: Path) -> None:
    rows = bill_of_materials(_model())
    for fn, name in (
        (write_bom_csv, "a.csv"),
        (write_bricklink_xml, "b.xml"),
        (write_rebrickable_csv, "c.csv"),
    ):
        fn(rows, tmp_path / "sub" / name)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["a.csv", "b.xml", "c.csv"]
