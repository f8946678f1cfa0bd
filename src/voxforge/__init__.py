"""voxforge: scans, meshes, pictures and sentences in; clean 3D models and buildable LEGO models out.

The front door (:mod:`voxforge.api`)::

    import voxforge

    scan = voxforge.load("mug_scan.ply")            # PointCloud | Mesh | VoxelGrid, z-up metres
    grid = voxforge.voxelize(scan, width_studs=16)  # VoxelGrid on the LEGO lattice
    bricks = voxforge.brickify(grid)                # model, verdict, parts list
    bricks.save("mug_bricks/")                      # model.mpd, bom.csv, preview.png, ...
    voxforge.instructions(bricks, "mug_book/")      # instructions.pdf / .html
    voxforge.classify(scan).label                   # ModelNet10 class or "unknown"
    voxforge.reconstruct(["photo.jpg"]).mesh        # a 3D model from pictures

The package is organised by stage (see ``docs/architecture.md``)::

    io -> core types -> scan / voxel / bricks / nn / mesh / render -> pipelines -> cli / service

Importing :mod:`voxforge` is cheap: the functions and core types above are imported on first use.
"""

from __future__ import annotations

import types
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
    from voxforge.api import (
        Bricks,
        Reconstructed,
        brickify,
        classify,
        instructions,
        load,
        reconstruct,
        voxelize,
    )
    from voxforge.core.brickmodel import BrickModel, Placement
    from voxforge.core.mesh import Mesh
    from voxforge.core.pointcloud import PointCloud
    from voxforge.core.voxelgrid import VoxelGrid

__version__ = "0.1.0"


class _CallableInstructions(types.ModuleType):
    """The ``voxforge.instructions`` sub-package, callable as :func:`voxforge.api.instructions`.

    Python binds a sub-package to its parent's attribute of the same name once it is imported,
    so the package itself is made callable rather than letting the function and the package
    take turns. The package's ``__init__`` is a docstring, so importing it here costs nothing.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from voxforge.api import instructions as write_instructions

        return write_instructions(*args, **kwargs)


import_module("voxforge.instructions").__class__ = _CallableInstructions

_LAZY = {
    "load": "voxforge.api",
    "voxelize": "voxforge.api",
    "brickify": "voxforge.api",
    "classify": "voxforge.api",
    "reconstruct": "voxforge.api",
    "Bricks": "voxforge.api",
    "Reconstructed": "voxforge.api",
    "PointCloud": "voxforge.core.pointcloud",
    "Mesh": "voxforge.core.mesh",
    "VoxelGrid": "voxforge.core.voxelgrid",
    "BrickModel": "voxforge.core.brickmodel",
    "Placement": "voxforge.core.brickmodel",
}


def __getattr__(name: str) -> Any:
    """Import the public functions and core types on first use (keeps ``import voxforge`` cheap)."""
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'voxforge' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"instructions"})


__all__ = [
    "BrickModel",
    "Bricks",
    "ConfigError",
    "GeometryError",
    "InputFormatError",
    "Mesh",
    "Placement",
    "PointCloud",
    "Reconstructed",
    "SizeLimitError",
    "UnsupportedInputError",
    "VoxelGrid",
    "VoxforgeError",
    "__version__",
    "brickify",
    "classify",
    "instructions",
    "load",
    "reconstruct",
    "voxelize",
]
