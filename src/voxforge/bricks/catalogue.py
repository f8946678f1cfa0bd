"""The parts catalogue as data.

Part numbers are the LDraw file names (``LEGO_FACTS.md``); BrickLink uses the same numbers for
these parts. Masses are from public part databases (approximate, grams); where no figure was at
hand the mass is scaled from the 2x4 brick (2.32 g for 24 stud-plate cells).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from voxforge.core.registry import Registry


@dataclass(frozen=True)
class Part:
    """A catalogue part.

    Attributes:
        key: LDraw file name without ``.dat`` (also the catalogue key).
        bricklink: BrickLink item number.
        name: human name ("Brick 2 x 4").
        kind: ``brick``, ``plate``, ``tile`` or ``slope``.
        width, length: footprint in studs, ``width <= length``; unrotated the long side is along
            LDraw X (as 3001 is).
        height: height in plates (brick 3, plate/tile 1).
        mass_g: grams.
        slope_deg: slope angle for slopes, else 0.
    """

    key: str
    bricklink: str
    name: str
    kind: str
    width: int
    length: int
    height: int
    mass_g: float
    slope_deg: int = 0

    @property
    def ldraw(self) -> str:
        return f"{self.key}.dat"

    @property
    def studs(self) -> int:
        """Studs on top (tiles have none; slopes keep the studs of their flat back row)."""
        if self.kind == "tile":
            return 0
        if self.kind == "slope":
            return self.width  # one row of studs at the high end
        return self.width * self.length

    @property
    def cells(self) -> int:
        return self.width * self.length * self.height


def _mass(width: int, length: int, height: int, known: float | None) -> float:
    if known is not None:
        return known
    return round(2.32 * width * length * height / 24.0, 2)


# (key, bricklink, width, length, known mass in grams or None)
_BRICKS = [
    ("3005", "3005", 1, 1, 0.43),
    ("3004", "3004", 1, 2, 0.80),
    ("3622", "3622", 1, 3, 1.15),
    ("3010", "3010", 1, 4, 1.52),
    ("3009", "3009", 1, 6, 2.24),
    ("3008", "3008", 1, 8, 2.95),
    ("3003", "3003", 2, 2, 1.17),
    ("3002", "3002", 2, 3, 1.73),
    ("3001", "3001", 2, 4, 2.32),
    ("2456", "2456", 2, 6, 3.42),
    ("3007", "3007", 2, 8, 4.56),
]
_PLATES = [
    ("3024", "3024", 1, 1, 0.14),
    ("3023", "3023", 1, 2, 0.25),
    ("3623", "3623", 1, 3, 0.36),
    ("3710", "3710", 1, 4, 0.47),
    ("3666", "3666", 1, 6, 0.70),
    ("3460", "3460", 1, 8, 0.93),
    ("3022", "3022", 2, 2, 0.42),
    ("3021", "3021", 2, 3, 0.62),
    ("3020", "3020", 2, 4, 0.80),
    ("3795", "3795", 2, 6, 1.20),
    ("3034", "3034", 2, 8, 1.58),
]
_TILES = [
    ("3070b", "3070b", 1, 1, 0.13),
    ("3069b", "3069b", 1, 2, 0.24),
    ("3068b", "3068b", 2, 2, 0.40),
]
# slopes: (key, bricklink, width, length, mass, angle); width along the studs row
_SLOPES = [
    ("3040b", "3040b", 1, 2, 0.62, 45),
    ("3039", "3039", 2, 2, 1.10, 45),
    ("4286", "4286", 1, 3, 0.85, 33),
]


def _build() -> Registry[Part]:
    parts: Registry[Part] = Registry("part")
    for key, bl, w, l, m in _BRICKS:
        parts.register(key, Part(key, bl, f"Brick {w} x {l}", "brick", w, l, 3, _mass(w, l, 3, m)))
    for key, bl, w, l, m in _PLATES:
        parts.register(key, Part(key, bl, f"Plate {w} x {l}", "plate", w, l, 1, _mass(w, l, 1, m)))
    for key, bl, w, l, m in _TILES:
        parts.register(key, Part(key, bl, f"Tile {w} x {l}", "tile", w, l, 1, _mass(w, l, 1, m)))
    for key, bl, w, l, m, deg in _SLOPES:
        parts.register(key, Part(key, bl, f"Slope {deg} {l} x {w}", "slope", w, l, 3, m, slope_deg=deg))
    return parts


@cache
def catalogue() -> Registry[Part]:
    """All catalogue parts by key (built once; the registry is read-only by convention)."""
    return _build()


def get_part(key: str) -> Part:
    return catalogue()[key]


def parts_of_kind(kind: str, height: int | None = None) -> list[Part]:
    """Parts of one kind, biggest footprint first (layout tries big parts first)."""
    out = [p for _, p in catalogue().items() if p.kind == kind]
    if height is not None:
        out = [p for p in out if p.height == height]
    return sorted(out, key=lambda p: (-p.width * p.length, -p.length, p.key))


def box_part(width: int, length: int, height: int) -> Part | None:
    """The brick (height 3) or plate (height 1) with this footprint, in either orientation."""
    w, l = sorted((width, length))
    kind = {3: "brick", 1: "plate"}.get(height)
    for p in parts_of_kind(kind or "", height):
        if (p.width, p.length) == (w, l):
            return p
    return None


# --------------------------------------------------------------------------------------------------
# Colour availability (``voxforge/data/part_colors.json``: curated from public part databases,
# BrickLink/Rebrickable catalogues as of 2024, conservative and not exhaustive).


@cache
def _part_colors_table() -> dict[str, frozenset[int]]:
    import json
    from importlib import resources

    text = resources.files("voxforge").joinpath("data", "part_colors.json").read_text("utf-8")
    return {k.lower(): frozenset(int(c) for c in v) for k, v in json.loads(text)["parts"].items()}


def part_colors(key: str) -> frozenset[int]:
    """LDraw colour codes the catalogue part ``key`` is known to be produced in.

    Empty for a catalogue part the data file does not cover yet; an unknown key raises the
    catalogue's ConfigError (with close matches).
    """
    part = catalogue()[key]
    return _part_colors_table().get(part.key.lower(), frozenset())


def is_available(key: str, code: int) -> bool:
    """True when part ``key`` is known to exist in LDraw colour ``code``."""
    return int(code) in part_colors(key)
