"""The LEGO colour table: LDraw colours by code or name, parsed from ``LDConfig.ldr``.

The table (``voxforge/data/colors.json``) is generated from the official LDraw ``LDConfig.ldr`` by
``scripts/make_color_table.py`` (LDraw codes, names, RGB, finish) plus BrickLink and Rebrickable
colour ids.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from voxforge.core.color import hex_to_srgb
from voxforge.core.errors import ConfigError, InputFormatError


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
