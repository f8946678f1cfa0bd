"""Parts callouts: which parts a step (or the whole model) needs, and small pictures of them.

Thumbnails are drawn at one scale for every part (a 1 x 1 plate looks smaller than a 2 x 4
brick, as in printed instructions), capped at a maximum side so long parts still fit, and are
cached per (part, colour): a booklet draws each kind of part once however many steps use it.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from voxforge.bricks.catalogue import catalogue
from voxforge.bricks.colors.palette import load_colors
from voxforge.bricks.geometry import ColorSource
from voxforge.core.brickmodel import BrickModel, Placement
from voxforge.instructions.steps import AZIMUTH_DEG, ELEVATION_DEG
from voxforge.render.bricks import model_corners, render_bricks
from voxforge.render.camera import Camera, framing_camera, look_at
from voxforge.render.raster import RenderOptions

_MARGIN = 0.04
THUMB_OPTIONS = RenderOptions(ssaa=3, edge_width=1.0)
"""Thumbnails are small: supersample more so studs and edges stay crisp."""


@dataclass(frozen=True)
class PartEntry:
    """One callout line: ``count`` of a part in a colour.

    Attributes:
        part: catalogue key (``3001``).
        name: part name (``Brick 2 x 4``).
        color: LDraw colour code.
        color_name: colour name (``Red``).
        rgb: ``#RRGGBB`` sRGB of the colour.
        count: how many.
    """

    part: str
    name: str
    color: int
    color_name: str
    rgb: str
    count: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _sort_key(part: str, color: int) -> tuple:
    """Bricks, then plates, tiles, slopes; larger parts first within a kind; then colour code."""
    p = catalogue()[part]
    kind = {"brick": 0, "plate": 1, "tile": 2, "slope": 3}.get(p.kind, 4)
    return (kind, -p.width * p.length, -p.length, part, color)


def part_entries(model: BrickModel, parts: Iterable[int] | None = None) -> list[PartEntry]:
    """Callout lines for placements ``parts`` (indices; ``None``: the whole model), one per
    (part, colour), in a stable order (bricks before plates, big before small)."""
    places = model.placements
    chosen = places if parts is None else [places[int(i)] for i in parts]
    counts = Counter((p.part, p.color) for p in chosen)
    cat, colours = catalogue(), load_colors()
    out = []
    for part, color in sorted(counts, key=lambda pc: _sort_key(*pc)):
        c = colours.get(color)
        out.append(
            PartEntry(
                part=part,
                name=cat[part].name,
                color=int(color),
                color_name=c.name if c else str(color),
                rgb=(c.rgb if c else "#808080").upper(),
                count=counts[(part, color)],
            )
        )
    return out


def _single(part: str, color: int) -> BrickModel:
    """A model of one part, long side along x; slopes at rotation 2 (falling toward -x), so the
    sloped face looks at the default camera (from the -x, -y corner)."""
    p = catalogue()[part]
    turn = 2 if p.kind == "slope" else 0
    place = Placement(part, 0, 0, 0, p.length, p.width, p.height, color, turn)
    return BrickModel([place], (p.length, p.width, p.height))


class Thumbnails:
    """Part pictures at one scale, cached per (part, colour).

    Args:
        colors: LDraw code -> sRGB floats.
        px_per_stud: pixels per stud pitch (8 mm) along the part's length.
        max_px: no side longer than this (long parts are drawn smaller).
    """

    def __init__(self, colors: ColorSource | None, px_per_stud: float = 26.0, max_px: int = 200) -> None:
        self.colors = colors
        self.px_per_stud = float(px_per_stud)
        self.max_px = int(max_px)
        self._png: dict[tuple[str, int], bytes] = {}
        self._size: dict[tuple[str, int], tuple[int, int]] = {}

    def _camera(self, model: BrickModel) -> Camera:
        corners = model_corners(model)
        az, el = math.radians(AZIMUTH_DEG), math.radians(ELEVATION_DEG)
        eye = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        flat = corners @ look_at(eye, np.zeros(3))[:2, :3].T  # screen axes of the default view
        extent = flat.max(axis=0) - flat.min(axis=0)
        scale = self.px_per_stud / float(model.pitch[0]) / (1.0 - 2.0 * _MARGIN)
        w, h = (float(v) for v in extent * scale)
        shrink = min(1.0, self.max_px / max(w, h))
        size = (max(8, round(w * shrink)), max(8, round(h * shrink)))
        return framing_camera(corners, size, AZIMUTH_DEG, ELEVATION_DEG, _MARGIN)

    def render(self, model: BrickModel) -> bytes:
        """PNG bytes (RGBA, transparent background) of a few placed parts at the callout scale
        (a sub-assembly in the callout of the step that attaches it)."""
        from PIL import Image

        image = render_bricks(
            model, self.colors, camera=self._camera(model), background=None, options=THUMB_OPTIONS
        )
        buf = io.BytesIO()
        Image.fromarray(image, mode="RGBA").save(buf, format="PNG", compress_level=3)
        return buf.getvalue()

    def png(self, part: str, color: int) -> bytes:
        """PNG bytes (RGBA, transparent background) of one part, cached."""
        key = (part, int(color))
        if key not in self._png:
            model = _single(part, int(color))
            self._png[key] = self.render(model)
            self._size[key] = self._camera(model).width, self._camera(model).height
        return self._png[key]

    def size(self, part: str, color: int) -> tuple[int, int]:
        """(width, height) pixels of the thumbnail."""
        self.png(part, color)
        return self._size[(part, int(color))]

    def __len__(self) -> int:
        return len(self._png)
