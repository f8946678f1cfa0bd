"""Tiny seeded brick models for the instruction tests (imported as ``.models``)."""

from __future__ import annotations

import numpy as np

from voxforge.core.brickmodel import BrickModel, Placement

# (part, width, length, height)
BOXES = [("3001", 2, 4, 3), ("3003", 2, 2, 3), ("3004", 1, 2, 3), ("3005", 1, 1, 3)]
COLORS = [4, 1, 14, 15, 2]


def random_stack(side: int = 6, layers: int = 3, seed: int = 0) -> BrickModel:
    """Layers of bricks tiling a ``side`` x ``side`` square, greedy with random part sizes and
    colours (seeded), alternate layers turned, so joints are staggered."""
    rng = np.random.default_rng(seed)
    placements = []
    for layer in range(layers):
        free = np.ones((side, side), dtype=bool)
        for x in range(side):
            for y in range(side):
                if not free[x, y]:
                    continue
                for part, w, ln, h in BOXES[int(rng.integers(0, 3)) :]:
                    dims = [(ln, w), (w, ln)] if layer % 2 == 0 else [(w, ln), (ln, w)]
                    ok = [
                        (sx, sy)
                        for sx, sy in dims
                        if x + sx <= side and y + sy <= side and free[x : x + sx, y : y + sy].all()
                    ]
                    if ok:
                        sx, sy = ok[0]
                        free[x : x + sx, y : y + sy] = False
                        rot = 0 if (sx >= sy) else 1
                        color = int(rng.choice(COLORS))
                        placements.append(Placement(part, x, y, 3 * layer, sx, sy, h, color, rot))
                        break
    return BrickModel(placements, (side, side, 3 * layers))


def wall_model() -> BrickModel:
    """A wall five bricks high along x at y = 0 (the side the default camera looks from) and a
    1 x 2 plate on the ground right behind it (placement 10), where the default view cannot
    see it."""
    placements = []
    for layer in range(5):
        shift = 2 if layer % 2 else 0
        for x in (0 + shift, 4 + shift):
            placements.append(Placement("3010", x, 0, 3 * layer, 4, 1, 3, 4))
    placements.append(Placement("3023", 4, 1, 0, 2, 1, 1, 1))
    return BrickModel(placements, (10, 2, 15))


def three_bricks() -> BrickModel:
    """Three 2 x 2 bricks on the ground, 4 studs apart: red, blue, yellow."""
    return BrickModel(
        [Placement("3003", 6 * i, 0, 0, 2, 2, 3, c) for i, c in enumerate((4, 1, 14))], (14, 2, 3)
    )
