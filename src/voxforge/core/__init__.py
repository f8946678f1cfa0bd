"""Core types shared by every stage: point clouds, meshes, voxel grids, brick models.

The names below are imported on first use, so ``import voxforge`` (which needs the error
classes) does not pay for trimesh.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from voxforge.core.errors import (
    ConfigError,
    GeometryError,
    InputFormatError,
    SizeLimitError,
    UnsupportedInputError,
    VoxforgeError,
)

if TYPE_CHECKING:
    from voxforge.core.brickmodel import BrickModel, Placement
    from voxforge.core.mesh import Mesh
    from voxforge.core.pointcloud import PointCloud
    from voxforge.core.progress import Progress, ProgressCallback, null_progress
    from voxforge.core.registry import Registry
    from voxforge.core.voxelgrid import LEGO_PITCH, VoxelGrid

_LAZY = {
    "BrickModel": "voxforge.core.brickmodel",
    "Placement": "voxforge.core.brickmodel",
    "Mesh": "voxforge.core.mesh",
    "PointCloud": "voxforge.core.pointcloud",
    "Progress": "voxforge.core.progress",
    "ProgressCallback": "voxforge.core.progress",
    "null_progress": "voxforge.core.progress",
    "Registry": "voxforge.core.registry",
    "LEGO_PITCH": "voxforge.core.voxelgrid",
    "VoxelGrid": "voxforge.core.voxelgrid",
}


def __getattr__(name: str) -> Any:
    """Import a core type on first use."""
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'voxforge.core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "LEGO_PITCH",
    "BrickModel",
    "ConfigError",
    "GeometryError",
    "InputFormatError",
    "Mesh",
    "Placement",
    "PointCloud",
    "Progress",
    "ProgressCallback",
    "Registry",
    "SizeLimitError",
    "UnsupportedInputError",
    "VoxelGrid",
    "VoxforgeError",
    "null_progress",
]
