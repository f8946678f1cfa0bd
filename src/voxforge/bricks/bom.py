"""Parts lists: what to buy to build a :class:`BrickModel`.

One row per (part, colour) with the LDraw, BrickLink and Rebrickable ids, written as a plain CSV,
a BrickLink wanted-list XML (upload format, ``LEGO_FACTS.md``) or a Rebrickable part-list CSV.
Colour ids come from the colour table (:mod:`voxforge.bricks.colors.palette`); where a colour has no
BrickLink or Rebrickable id the exporter says so in the log instead of guessing.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from xml.etree import ElementTree as ET

from voxforge.bricks.catalogue import catalogue
from voxforge.bricks.colors.palette import Color, find_color, load_colors
from voxforge.core.brickmodel import BrickModel
from voxforge.core.outputs import atomic_write_bytes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BomRow:
    """One line of a parts list.

    Attributes:
        part: catalogue key (``3001``).
        ldraw_id: LDraw file name (``3001.dat``).
        bricklink_id: BrickLink item number.
        name: part name (``Brick 2 x 4``).
        color: LDraw colour code.
        color_name: colour name from LDConfig.
        bricklink_color: BrickLink colour id, or None where unknown.
        rebrickable_color: Rebrickable colour id, or None where unknown.
        quantity: how many.
    """

    part: str
    ldraw_id: str
    bricklink_id: str
    name: str
    color: int
    color_name: str
    bricklink_color: int | None
    rebrickable_color: int | None
    quantity: int


def _part_sort_key(key: str) -> tuple[int, str]:
    digits = "".join(ch for ch in key if ch.isdigit())
    return (int(digits) if digits else 0, key)


def bill_of_materials(model: BrickModel) -> list[BomRow]:
    """Rows sorted by part number (numerically), then LDraw colour code.

    Raises ConfigError for a part or colour code the catalogue or colour table does not know.
    """
    counts = Counter((p.part, p.color) for p in model.placements)
    table = load_colors()
    rows = []
    for (key, code), n in counts.items():
        part = catalogue()[key]
        colour: Color = table[code] if code in table else find_color(code)
        rows.append(
            BomRow(
                part=part.key,
                ldraw_id=part.ldraw,
                bricklink_id=part.bricklink,
                name=part.name,
                color=code,
                color_name=colour.name,
                bricklink_color=colour.bricklink_id,
                rebrickable_color=colour.rebrickable_id,
                quantity=n,
            )
        )
    return sorted(rows, key=lambda r: (_part_sort_key(r.part), r.color))


CSV_COLUMNS = tuple(f.name for f in fields(BomRow))


def bom_csv_text(rows: list[BomRow]) -> str:
    """The full parts list as CSV (header = :class:`BomRow` field names; empty cell for None)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: ("" if v is None else v) for k, v in asdict(row).items()})
    return buf.getvalue()


def write_bom_csv(rows: list[BomRow], path: str | Path) -> None:
    """Write the full parts list as CSV (atomic, UTF-8)."""
    atomic_write_bytes(path, bom_csv_text(rows).encode("utf-8"))


def bricklink_xml_text(rows: list[BomRow]) -> str:
    """BrickLink wanted-list upload XML (no declaration line).

    ``<INVENTORY><ITEM><ITEMTYPE>P</ITEMTYPE><ITEMID>3001</ITEMID><COLOR>5</COLOR>
    <MINQTY>4</MINQTY></ITEM>...</INVENTORY>``. Rows whose colour has no BrickLink id are written
    without ``COLOR`` (BrickLink then takes any colour) and logged as a warning.
    """
    root = ET.Element("INVENTORY")
    missing = []
    for row in rows:
        item = ET.SubElement(root, "ITEM")
        ET.SubElement(item, "ITEMTYPE").text = "P"
        ET.SubElement(item, "ITEMID").text = row.bricklink_id
        if row.bricklink_color is None:
            missing.append(f"{row.part} in {row.color} {row.color_name}")
        else:
            ET.SubElement(item, "COLOR").text = str(row.bricklink_color)
        ET.SubElement(item, "MINQTY").text = str(row.quantity)
    if missing:
        log.warning(
            "no BrickLink colour id for %d row(s), written without COLOR: %s",
            len(missing),
            "; ".join(missing),
        )
    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="unicode") + "\n"


def write_bricklink_xml(rows: list[BomRow], path: str | Path) -> None:
    """Write a BrickLink wanted-list XML (atomic, UTF-8, no declaration)."""
    atomic_write_bytes(path, bricklink_xml_text(rows).encode("utf-8"))


def rebrickable_csv_text(rows: list[BomRow]) -> str:
    """Rebrickable part-list CSV: ``Part,Color,Quantity`` with Rebrickable colour ids.

    Rows whose colour has no Rebrickable id are left out and logged as a warning (a wrong colour
    id would silently order the wrong part). Part numbers are the catalogue keys, which
    Rebrickable shares for these basic parts.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["Part", "Color", "Quantity"])
    skipped = []
    for row in rows:
        if row.rebrickable_color is None:
            skipped.append(f"{row.quantity} x {row.part} in {row.color} {row.color_name}")
            continue
        w.writerow([row.part, row.rebrickable_color, row.quantity])
    if skipped:
        log.warning("no Rebrickable colour id, left out: %s", "; ".join(skipped))
    return buf.getvalue()


def write_rebrickable_csv(rows: list[BomRow], path: str | Path) -> None:
    """Write a Rebrickable part-list CSV (atomic, UTF-8)."""
    atomic_write_bytes(path, rebrickable_csv_text(rows).encode("utf-8"))
