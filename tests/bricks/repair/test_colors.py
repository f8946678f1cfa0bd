"""Support columns take the colour of their surroundings where the part exists in it."""

from __future__ import annotations

import numpy as np

from voxforge.bricks.catalogue import catalogue, part_colors
from voxforge.bricks.colors.palette import load_colors
from voxforge.bricks.lay import LayoutConfig, lay_bricks
from voxforge.bricks.repair.colors import added_parts, match_support_colors
from voxforge.core.brickmodel import BrickModel, Placement
from voxforge.core.voxelgrid import VoxelGrid


def _place(key: str, x: int, y: int, z: int, color: int, rotation: int = 0) -> Placement:
    part = catalogue()[key]
    sx, sy = (part.length, part.width) if rotation % 2 == 0 else (part.width, part.length)
    return Placement(key, x, y, z, sx, sy, part.height, color, rotation)


def _ledge(top: int, side: int | None = None) -> tuple[BrickModel, np.ndarray]:
    """A red 2x2 pillar, a 2x4 brick of colour ``top`` on it reaching one stud past a gap, a
    grey 1x1 support column (two bricks) under its far end, and optionally a brick of colour
    ``side`` beside the column."""
    ps = [
        _place("3003", 0, 0, 0, 4),
        _place("3001", 0, 0, 3, top),
        _place("3005", 3, 0, 0, 71),  # the support
    ]
    if side is not None:
        ps.append(_place("3005", 3, 1, 0, side))
    model = BrickModel(ps, (4, 2, 6))
    added = np.zeros(model.shape, dtype=bool)
    added[3, 0, 0:3] = True
    return model, added


def test_a_support_takes_the_colour_of_the_part_it_holds_up() -> None:
    model, added = _ledge(top=4, side=1)
    assert added_parts(model, added).tolist() == [False, False, True, False]
    out, changed = match_support_colors(model, added, 71)
    assert changed == 1 and out.placements[2].color == 4  # the part above outweighs the side
    assert [p.color for p in out.placements[:2]] == [4, 4] and out.placements[3].color == 1


def test_a_colour_the_part_is_not_made_in_is_skipped() -> None:
    made = part_colors("3005")
    missing = next(c for c in sorted(load_colors()) if c > 0 and c not in made and c != 71)
    model, added = _ledge(top=missing, side=1)
    out, changed = match_support_colors(model, added, 71)
    assert changed == 1 and out.placements[2].color == 1  # the next colour around it
    model, added = _ledge(top=missing)
    out, changed = match_support_colors(model, added, 71)
    assert changed == 0 and out.placements[2].color == 71  # nothing else around: stays grey


def test_layout_support_columns_match_a_red_model() -> None:
    occ = np.zeros((8, 4, 12), dtype=bool)
    occ[0:2, 0:2, 0:9] = True  # a red pillar
    occ[4:8, 0:4, 6:9] = True  # a red block floating beside it: the repair props it up
    colors = np.where(occ, 4, -1).astype(np.int32)
    model, report = lay_bricks(VoxelGrid(occ), colors, LayoutConfig())
    assert report.added_cells > 0 and report.support_recolored > 0
    assert {p.color for p in model.placements} == {4}
    grey, _ = lay_bricks(VoxelGrid(occ), colors, LayoutConfig(match_support_color=False))
    assert 71 in {p.color for p in grey.placements}
