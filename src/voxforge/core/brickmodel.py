"""Brick models: catalogue parts placed on the LEGO lattice."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxforge.core.voxelgrid import LEGO_PITCH


@dataclass(frozen=True)
class Placement:
    """One part on the lattice.

    Lattice units: x, y in studs, z in plates, z up, all non-negative. The part occupies the box
    ``[x, x + sx) x [y, y + sy) x [z, z + h)``; ``sx``/``sy`` are the footprint after rotation.

    Attributes:
        part: catalogue key (the LDraw file name without ``.dat``, e.g. ``"3001"``).
        x, y, z: min corner cell of the part's box.
        sx, sy: footprint in studs along x and y.
        h: height in plates (1 plate, 3 brick).
        color: LDraw colour code.
        rotation: quarter turns about the vertical axis (0..3), counter-clockwise seen from above.
            Rotation 0 lays the part's long side (catalogue ``length``) along +x, as LDraw's 3001;
            rotation 1 lays it along +y. Boxes only need 0 or 1. For slopes the facing matters:
            rotation 0 has the stud row (the high side) at the x-min end and falls toward +x;
            1 has the studs at y-min, falling toward +y; 2 studs at x-max, falling toward -x;
            3 studs at y-max, falling toward -y.
        step: build step (0-based), or -1 before instructions are made.
    """

    part: str
    x: int
    y: int
    z: int
    sx: int
    sy: int
    h: int
    color: int
    rotation: int = 0
    step: int = -1

    @property
    def cells(self) -> int:
        return self.sx * self.sy * self.h

    def box(self) -> tuple[int, int, int, int, int, int]:
        """``(x0, y0, z0, x1, y1, z1)`` half-open lattice box."""
        return (self.x, self.y, self.z, self.x + self.sx, self.y + self.sy, self.z + self.h)


@dataclass
class BrickModel:
    """A set of placed parts plus where the lattice sits in the world.

    Attributes:
        placements: the parts.
        shape: (nx, ny, nz) lattice size the placements live in.
        pitch: (3,) metres per lattice cell (the LEGO lattice).
        origin: (3,) world position (metres) of lattice cell (0, 0, 0)'s min corner.
        meta: provenance, layout report, stability report.
    """

    placements: list[Placement]
    shape: tuple[int, int, int]
    pitch: np.ndarray = field(default_factory=lambda: LEGO_PITCH.copy())
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.placements)

    def arrays(self) -> dict[str, np.ndarray]:
        """Column arrays (x, y, z, sx, sy, h, color, rotation, step) as int64, for vector code."""
        cols = ("x", "y", "z", "sx", "sy", "h", "color", "rotation", "step")
        if not self.placements:
            return {c: np.zeros(0, dtype=np.int64) for c in cols}
        return {
            c: np.fromiter((getattr(p, c) for p in self.placements), np.int64, len(self.placements))
            for c in cols
        }

    def label_grid(self) -> np.ndarray:
        """(nx, ny, nz) int64: index of the placement filling each cell, -1 where empty."""
        grid = np.full(self.shape, -1, dtype=np.int64)
        for i, p in enumerate(self.placements):
            x0, y0, z0, x1, y1, z1 = p.box()
            grid[x0:x1, y0:y1, z0:z1] = i
        return grid

    def occupancy(self) -> np.ndarray:
        """(nx, ny, nz) bool cells covered by some part."""
        return self.label_grid() >= 0
