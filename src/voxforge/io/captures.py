"""ARKit capture folders (and zips of them), dispatched to ``voxforge.io.arkit``.

The capture reader lives in its own module and is imported only when a folder or a capture zip
is actually loaded, so the other readers work without it. A zip is unpacked into a temporary
folder (refusing absolute or ``..`` member paths and absurd sizes) and removed afterwards.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

from voxforge.core.errors import SizeLimitError, UnsupportedInputError, VoxforgeError
from voxforge.core.pointcloud import PointCloud
from voxforge.io._base import FormatSpec, Source

MAX_UNZIPPED_BYTES = 8 << 30
"""Refuse capture zips that would expand beyond 8 GiB (zip bombs, wrong uploads)."""


def _arkit(name: str) -> ModuleType:
    try:
        from voxforge.io import arkit
    except ImportError as e:
        raise UnsupportedInputError(
            f"{name}: reading capture folders needs voxforge.io.arkit, which failed to import ({e})"
        ) from None
    return arkit


def load_capture_dir(path: Path, name: str, **options: Any) -> PointCloud:
    """Read an ARKit capture folder; a folder that is not one is refused by name."""
    arkit = _arkit(name)
    try:
        ok = bool(arkit.is_capture(path))
    except VoxforgeError:
        raise
    except Exception as e:
        raise UnsupportedInputError(f"{name}: cannot inspect folder ({type(e).__name__}: {e})") from None
    if not ok:
        raise UnsupportedInputError(
            f"{name}: is a folder but not an ARKit capture; expected a point cloud, mesh or voxel "
            "file, or a capture folder"
        )
    try:
        cloud = arkit.load_capture(path, **options)
    except VoxforgeError:
        raise
    except Exception as e:
        raise UnsupportedInputError(
            f"{name}: capture could not be read ({type(e).__name__}: {e})"
        ) from None
    return cloud


def _safe_members(src: Source, z: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    members = z.infolist()
    total = sum(m.file_size for m in members)
    if total > MAX_UNZIPPED_BYTES:
        raise SizeLimitError(
            f"{src.name}: zip would expand to {total} bytes (limit {MAX_UNZIPPED_BYTES})"
        )
    for m in members:
        p = PurePosixPath(m.filename)
        if p.is_absolute() or ".." in p.parts or ":" in m.filename:
            raise src.error(f"zip member {m.filename!r} points outside the archive folder")
    return members


def _capture_root(arkit: ModuleType, folder: Path) -> Path:
    """The folder itself, or its only sub-folder (zips usually hold one top-level folder)."""
    if arkit.is_capture(folder):
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("__MACOSX", "."))]
    if len(subs) == 1 and arkit.is_capture(subs[0]):
        return subs[0]
    return folder


def read_capture_zip(src: Source, **options: Any) -> PointCloud:
    """Unpack a zipped capture folder into a temporary folder and read it."""
    arkit = _arkit(src.name)
    with tempfile.TemporaryDirectory(prefix="voxforge-capture-") as tmp:
        try:
            with zipfile.ZipFile(io.BytesIO(src.data())) as z:
                z.extractall(tmp, members=_safe_members(src, z))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as e:
            raise src.error(f"cannot unpack zip ({type(e).__name__}: {e})") from None
        root = _capture_root(arkit, Path(tmp))
        return load_capture_dir(root, src.name, **options)


FORMATS = (
    FormatSpec(
        name="capture",
        kinds=("points",),
        extensions=(".zip",),
        description="ARKit capture folder, or a .zip of one (voxforge.io.arkit)",
        readers={"points": read_capture_zip},
        sniff=None,  # zips are told apart by member names in formats.sniff_source
    ),
)
