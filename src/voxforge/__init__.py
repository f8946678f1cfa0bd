"""voxforge: scans, meshes, pictures and sentences in; clean 3D models and buildable LEGO models out.

The package is organised by stage (see ``docs/architecture.md``)::

    io -> core types -> scan / voxel / bricks / nn / mesh / render -> pipelines -> cli / service

Importing :mod:`voxforge` is cheap: sub-packages are imported where they are used.
"""

from voxforge.core.errors import (
    ConfigError,
    GeometryError,
    InputFormatError,
    SizeLimitError,
    UnsupportedInputError,
    VoxforgeError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "GeometryError",
    "InputFormatError",
    "SizeLimitError",
    "UnsupportedInputError",
    "VoxforgeError",
    "__version__",
]
