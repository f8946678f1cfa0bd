"""Point clouds: positions in metres, optional colours and normals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxforge.core.errors import GeometryError


@dataclass
class PointCloud:
    """A point cloud in a right-handed, **z-up** frame, in metres.

    Attributes:
        xyz: (n, 3) float64 positions, metres.
        rgb: (n, 3) float32 sRGB colours in [0, 1], or None.
        normals: (n, 3) float32 unit normals, or None.
        meta: what the reader knew (source path, format, original units, CRS, ...).
    """

    xyz: np.ndarray
    rgb: np.ndarray | None = None
    normals: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.xyz = np.ascontiguousarray(self.xyz, dtype=np.float64).reshape(-1, 3)
        n = len(self.xyz)
        if self.rgb is not None:
            self.rgb = np.ascontiguousarray(self.rgb, dtype=np.float32).reshape(-1, 3)
            if len(self.rgb) != n:
                raise GeometryError(f"point cloud has {n} points but {len(self.rgb)} colours")
        if self.normals is not None:
            self.normals = np.ascontiguousarray(self.normals, dtype=np.float32).reshape(-1, 3)
            if len(self.normals) != n:
                raise GeometryError(f"point cloud has {n} points but {len(self.normals)} normals")

    def __len__(self) -> int:
        return len(self.xyz)

    @property
    def has_colors(self) -> bool:
        return self.rgb is not None

    @property
    def bounds(self) -> np.ndarray:
        """(2, 3) float64: min and max corner, metres."""
        if len(self.xyz) == 0:
            raise GeometryError("point cloud is empty")
        return np.stack([self.xyz.min(axis=0), self.xyz.max(axis=0)])

    @property
    def extent(self) -> np.ndarray:
        """(3,) float64: size of the bounding box, metres."""
        b = self.bounds
        return b[1] - b[0]

    def select(self, mask_or_index: np.ndarray) -> PointCloud:
        """A new cloud with the chosen points (boolean mask or integer index)."""
        return PointCloud(
            xyz=self.xyz[mask_or_index],
            rgb=None if self.rgb is None else self.rgb[mask_or_index],
            normals=None if self.normals is None else self.normals[mask_or_index],
            meta=dict(self.meta),
        )

    def transformed(self, matrix: np.ndarray) -> PointCloud:
        """Apply a 4x4 homogeneous transform (rotation part also turns the normals)."""
        m = np.asarray(matrix, dtype=np.float64)
        xyz = self.xyz @ m[:3, :3].T + m[:3, 3]
        normals = None
        if self.normals is not None:
            n = self.normals @ m[:3, :3].T
            normals = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        return PointCloud(xyz=xyz, rgb=self.rgb, normals=normals, meta=dict(self.meta))

    def validate(self, name: str = "point cloud") -> PointCloud:
        """Raise :class:`GeometryError` for an empty cloud or non-finite coordinates."""
        if len(self.xyz) == 0:
            raise GeometryError(f"{name} has no points")
        bad = ~np.isfinite(self.xyz).all(axis=1)
        if bad.any():
            raise GeometryError(
                f"{name} has {int(bad.sum())} of {len(self.xyz)} points with NaN/inf coordinates"
            )
        return self
