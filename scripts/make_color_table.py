"""Turn the official LDraw colour table into voxforge's own colour data.

    python scripts/make_color_table.py                       # writes src/voxforge/data/colors.json
    python scripts/make_color_table.py --check               # exit 1 if the committed file is stale

Input: ``LDConfig.ldr`` (default ``../shared/data/ldraw/LDConfig.ldr``). Output: one record per
``!COLOUR`` line (code, name, rgb, edge, finish, alpha, LEGO id) plus BrickLink and Rebrickable
colour ids from the tables below. The output is deterministic, so a test can regenerate it and
compare with the committed file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LDCONFIG = REPO.parent / "shared" / "data" / "ldraw" / "LDConfig.ldr"
DEFAULT_OUT = REPO / "src" / "voxforge" / "data" / "colors.json"

# LDraw code -> BrickLink colour id, as listed in the project's LEGO_FACTS.md ("as public tools
# map them; not checked against BrickLink itself").
BRICKLINK_FACTS: dict[int, int] = {
    15: 1, 19: 2, 14: 3, 25: 4, 4: 5, 2: 6, 1: 7, 0: 11, 27: 34, 10: 36, 73: 42, 378: 48,
    320: 59, 272: 63, 484: 68, 28: 69, 288: 80, 72: 85, 71: 86, 70: 88, 308: 120,
}  # fmt: skip

# Further opaque solid colours, from the commonly published LDraw <-> BrickLink colour mapping
# (BrickLink's colour guide numbering). Added by hand for this project; unverified here.
BRICKLINK_EXTRA: dict[int, int] = {
    6: 8,  # Brown (old)
    7: 9,  # Light Gray (old)
    8: 10,  # Dark Gray (old)
    13: 23,  # Pink
    22: 24,  # Purple
    12: 25,  # Salmon
    216: 27,  # Rust
    92: 28,  # Nougat
    462: 31,  # Medium Orange
    125: 32,  # Light Orange
    18: 33,  # Light Yellow
    120: 35,  # Light Lime
    74: 37,  # Medium Green
    17: 38,  # Light Green
    3: 39,  # Dark Turquoise
    11: 40,  # Light Turquoise
    118: 41,  # Aqua
    110: 43,  # Violet
    20: 44,  # Light Violet
    5: 47,  # Dark Pink
    503: 49,  # Very Light Gray
    373: 54,  # Sand Purple
    379: 55,  # Sand Blue
    335: 58,  # Sand Red
    9: 62,  # Light Blue
    26: 71,  # Magenta
    313: 72,  # Maersk Blue
    112: 73,  # Medium Violet
    115: 76,  # Medium Lime
    78: 90,  # Light Nougat
    351: 94,  # Medium Dark Pink
    68: 96,  # Very Light Orange
    151: 99,  # Very Light Bluish Gray
    226: 103,  # Bright Light Yellow
    29: 104,  # Bright Pink
    212: 105,  # Bright Light Blue
    191: 110,  # Bright Light Orange
    84: 150,  # Medium Nougat
    323: 152,  # Light Aqua
    321: 153,  # Dark Azure
    31: 154,  # Lavender
    330: 155,  # Olive Green
    322: 156,  # Medium Azure
    30: 157,  # Medium Lavender
    326: 158,  # Yellowish Green
    353: 220,  # Coral
}

# Solid colours whose Rebrickable id is known to equal the LDraw code (Rebrickable numbered its
# colours after LDraw). Other solid colours get the code too, flagged ``ldraw-code-unverified``;
# non-solid finishes get no Rebrickable id.
REBRICKABLE_KNOWN: frozenset[int] = frozenset(
    {
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 18, 19, 20, 22, 25, 26, 27,
        28, 29, 30, 31, 70, 71, 72, 73, 74, 78, 84, 92, 110, 112, 115, 118, 120, 125, 151, 191,
        212, 216, 226, 272, 288, 308, 313, 320, 321, 322, 323, 326, 330, 335, 351, 353, 373,
        378, 379, 484, 503,
    }
)  # fmt: skip


def build_table(ldconfig: Path) -> dict[str, Any]:
    """The colour data as a JSON-ready dict (deterministic for a given LDConfig)."""
    from voxforge.bricks.colors.palette import parse_ldconfig

    header = ""
    for line in ldconfig.read_text(encoding="utf-8-sig").splitlines()[:6]:
        if "!LDRAW_ORG" in line:
            header = line.split("!LDRAW_ORG", 1)[1].strip()
    colours = []
    for rec in parse_ldconfig(ldconfig):
        code = rec["code"]
        if code in BRICKLINK_FACTS:
            bl, bl_src = BRICKLINK_FACTS[code], "LEGO_FACTS"
        elif code in BRICKLINK_EXTRA:
            bl, bl_src = BRICKLINK_EXTRA[code], "extra"
        else:
            bl, bl_src = None, None
        if rec["finish"] == "solid" and code in REBRICKABLE_KNOWN:
            rb, rb_src = code, "ldraw-code"
        elif rec["finish"] == "solid":
            rb, rb_src = code, "ldraw-code-unverified"
        else:
            rb, rb_src = None, None
        colours.append(
            {
                **rec,
                "bricklink_id": bl,
                "bricklink_source": bl_src,
                "rebrickable_id": rb,
                "rebrickable_source": rb_src,
            }
        )
    colours.sort(key=lambda c: c["code"])
    return {
        "source": f"LDraw LDConfig.ldr ({header})" if header else "LDraw LDConfig.ldr",
        "licence": "LDraw colour data: CCAL 2.0 (ldraw.org)",
        "generated_by": "scripts/make_color_table.py",
        "notes": {
            "bricklink_source": "LEGO_FACTS = table in the project's LEGO_FACTS.md; "
            "extra = common public LDraw->BrickLink mapping added by hand, unverified",
            "rebrickable_source": "ldraw-code = Rebrickable id equals the LDraw code (known); "
            "ldraw-code-unverified = assumed equal; null = no id recorded",
            "finish": "solid, transparent, chrome, pearlescent, metal, rubber, milky, glow, "
            "glitter, speckle, special (16 main colour, 24 edge colour)",
        },
        "colors": colours,
    }


def render(table: dict[str, Any]) -> str:
    """Canonical text: one colour per line keeps diffs readable."""
    head = {k: v for k, v in table.items() if k != "colors"}
    lines = json.dumps(head, indent=2, ensure_ascii=False)[:-2]
    body = ",\n".join("    " + json.dumps(c, ensure_ascii=False) for c in table["colors"])
    return f'{lines},\n  "colors": [\n{body}\n  ]\n}}\n'


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ldconfig", type=Path, default=DEFAULT_LDCONFIG)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="compare with --out instead of writing")
    args = ap.parse_args(argv)
    text = render(build_table(args.ldconfig))
    if args.check:
        ok = args.out.is_file() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'up to date' if ok else 'STALE: rerun scripts/make_color_table.py'}")
        return 0 if ok else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.out)
    print(f"wrote {args.out} ({len(json.loads(text)['colors'])} colours)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
