"""Triangle meshes: a thin wrapper around :class:`trimesh.Trimesh` that adds units and provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import trimesh

from voxforge.core.errors import GeometryError


@dataclass
class Mesh:
    """A triangle mesh in a right-handed, **z-up** frame, in metres.

    Geometry and appearance (vertex colours, or UVs plus a texture image in ``tm.visual``) live in
    the wrapped ``trimesh.Trimesh``; readers convert units and the up axis before building one.

    Attributes:
        tm: the trimesh object (vertices (n, 3) float64 metres, faces (m, 3) int64).
        meta: what the reader knew (source path, format, original units and up axis, ...).
    """

    tm: trimesh.Trimesh
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def vertices(self) -> np.ndarray:
        return self.tm.vertices

    @property
    def faces(self) -> np.ndarray:
        return self.tm.faces

    @property
    def bounds(self) -> np.ndarray:
        """(2, 3) float64: min and max corner, metres."""
        if len(self.tm.vertices) == 0:
            raise GeometryError("mesh has no vertices")
        return np.asarray(self.tm.bounds, dtype=np.float64)

    @property
    def extent(self) -> np.ndarray:
        b = self.bounds
        return b[1] - b[0]

    @property
    def is_watertight(self) -> bool:
        return bool(self.tm.is_watertight)

    @property
    def has_colors(self) -> bool:
        """True when the visual carries vertex/face colours or a texture."""
        visual = self.tm.visual
        if visual is None:
            return False
        if getattr(visual, "kind", None) == "texture":
            return True
        return getattr(visual, "kind", None) in ("vertex", "face")

    def transformed(self, matrix: np.ndarray) -> Mesh:
        tm = self.tm.copy()
        tm.apply_transform(np.asarray(matrix, dtype=np.float64))
        return Mesh(tm=tm, meta=dict(self.meta))

    def validate(self, name: str = "mesh") -> Mesh:
        """Raise :class:`GeometryError` for a mesh with no faces or non-finite vertices."""
        if len(self.tm.faces) == 0:
            raise GeometryError(f"{name} has no faces")
        if not np.isfinite(self.tm.vertices).all():
            raise GeometryError(f"{name} has vertices with NaN/inf coordinates")
        return self
