"""A user's parts inventory: which parts in which colours they own, read from Rebrickable CSV,
BrickLink XML, JSON/YAML or a dict.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from voxforge.bricks.colors.palette import load_colors
from voxforge.core.errors import InputFormatError


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
