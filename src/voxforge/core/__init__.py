"""Core types shared by every stage: point clouds, meshes, voxel grids, brick models."""

from voxforge.core.errors import (
    ConfigError,
    GeometryError,
    InputFormatError,
    SizeLimitError,
    UnsupportedInputError,
    VoxforgeError,
)
from voxforge.core.mesh import Mesh
from voxforge.core.pointcloud import PointCloud
from voxforge.core.progress import Progress, ProgressCallback, null_progress
from voxforge.core.registry import Registry
from voxforge.core.voxelgrid import LEGO_PITCH, VoxelGrid

__all__ = [
    "LEGO_PITCH",
    "ConfigError",
    "GeometryError",
    "InputFormatError",
    "Mesh",
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
