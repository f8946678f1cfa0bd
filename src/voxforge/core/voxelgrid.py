"""Voxel grids on the LEGO lattice (8 x 8 x 3.2 mm) or on a cubic grid."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxforge.core.errors import GeometryError

STUD_PITCH_M = 0.008
"""Stud pitch in metres (LEGO_FACTS.md)."""
PLATE_HEIGHT_M = 0.0032
"""Plate height in metres; a brick is three plates."""
LEGO_PITCH = np.array([STUD_PITCH_M, STUD_PITCH_M, PLATE_HEIGHT_M])
"""Cell size of the LEGO lattice, (x, y, z) metres, z up."""


@dataclass
class VoxelGrid:
    """An occupancy grid, **z-up**, axis order (x, y, z).

    Attributes:
        occupancy: (nx, ny, nz) bool, True where the cell is filled.
        pitch: (3,) float64 cell size in metres along x, y, z.
        origin: (3,) float64 world position (metres) of the min corner of cell (0, 0, 0).
        colors: (nx, ny, nz, 3) float32 sRGB in [0, 1] (meaningful where occupied), or None.
        interior: (nx, ny, nz) bool cells inside the object left empty by hollowing, or None.
        meta: provenance and sizing (source, scale, requested size, ...).
    """

    occupancy: np.ndarray
    pitch: np.ndarray = field(default_factory=lambda: LEGO_PITCH.copy())
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    colors: np.ndarray | None = None
    interior: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.occupancy = np.asarray(self.occupancy, dtype=bool)
        if self.occupancy.ndim != 3:
            raise GeometryError(f"voxel grid must be 3-D, got shape {self.occupancy.shape}")
        self.pitch = np.broadcast_to(np.asarray(self.pitch, dtype=np.float64), (3,)).copy()
        self.origin = np.broadcast_to(np.asarray(self.origin, dtype=np.float64), (3,)).copy()
        if not (np.isfinite(self.pitch).all() and (self.pitch > 0).all()):
            raise GeometryError(f"voxel pitch must be positive and finite, got {self.pitch}")
        if self.colors is not None:
            self.colors = np.asarray(self.colors, dtype=np.float32)
            if self.colors.shape != (*self.occupancy.shape, 3):
                raise GeometryError(
                    f"colours shape {self.colors.shape} does not match grid {self.occupancy.shape}"
                )
        if self.interior is not None:
            self.interior = np.asarray(self.interior, dtype=bool)
            if self.interior.shape != self.occupancy.shape:
                raise GeometryError("interior mask shape does not match the grid")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.occupancy.shape)  # type: ignore[return-value]

    @property
    def count(self) -> int:
        """Number of filled cells."""
        return int(self.occupancy.sum())

    @property
    def is_lego(self) -> bool:
        """True when the cells are LEGO lattice cells (one stud by one plate)."""
        return bool(np.allclose(self.pitch, LEGO_PITCH, rtol=1e-6))

    @property
    def has_colors(self) -> bool:
        return self.colors is not None

    def centers(self, index: np.ndarray | None = None) -> np.ndarray:
        """(k, 3) float64 world centres (metres) of the given (k, 3) cell indices (default: filled)."""
        if index is None:
            index = np.argwhere(self.occupancy)
        return self.origin + (np.asarray(index, dtype=np.float64) + 0.5) * self.pitch

    def size_report(self) -> dict[str, Any]:
        """The occupied size in cells, studs/plates (lattice grids) and centimetres."""
        if self.count == 0:
            raise GeometryError("voxel grid is empty")
        idx = np.argwhere(self.occupancy)
        cells = idx.max(axis=0) - idx.min(axis=0) + 1
        cm = cells * self.pitch * 100.0
        report: dict[str, Any] = {
            "cells": [int(c) for c in cells],
            "filled": self.count,
            "size_cm": [round(float(c), 2) for c in cm],
        }
        if self.is_lego:
            report["studs"] = [int(cells[0]), int(cells[1])]
            report["plates"] = int(cells[2])
            report["bricks_high"] = round(float(cells[2]) / 3.0, 2)
        return report

    def cropped(self) -> VoxelGrid:
        """The grid cut to the bounding box of its filled cells (origin moved to match)."""
        if self.count == 0:
            raise GeometryError("voxel grid is empty")
        idx = np.argwhere(self.occupancy)
        lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
        sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        return VoxelGrid(
            occupancy=self.occupancy[sl],
            pitch=self.pitch,
            origin=self.origin + lo * self.pitch,
            colors=None if self.colors is None else self.colors[sl],
            interior=None if self.interior is None else self.interior[sl],
            meta=dict(self.meta),
        )
