"""The merged format registry and content sniffing.

Each format module ends with a ``FORMATS`` table; they are merged here into one
:class:`~voxforge.core.registry.Registry`. :func:`sniff_source` names a format from content:
first the formats with a magic number (PLY, PCD, LAS, GLB, glTF, OFF, npy, binvox, vox, zip
families), then the text heuristics (STL, OBJ, XYZ) — so an extension that lies does not decide.
"""

from __future__ import annotations

import zipfile
from typing import Any

from voxforge.core.registry import Registry
from voxforge.io import binvox, captures, las, meshes, pcd, ply, usd, vox, voxels, xyz
from voxforge.io._base import HEAD_BYTES, FormatSpec, Source
from voxforge.io.heads import ZIP_ERRORS

MODULES = (ply, pcd, las, xyz, meshes, usd, voxels, binvox, vox, captures)
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")

FORMATS: Registry[FormatSpec] = Registry("file format")
for _module in MODULES:
    for _spec in _module.FORMATS:
        FORMATS.register(_spec.name, _spec)

EXTENSIONS: dict[str, str] = {ext: spec.name for _, spec in FORMATS.items() for ext in spec.extensions}
"""Lower-case extension (with dot) -> format name."""

_ORDERED = [spec for _, spec in FORMATS.items() if spec.sniff is not None]
_STRONG = [s for s in _ORDERED if s.strong]
_WEAK = [FORMATS[n] for n in ("stl", "obj", "xyz")]


def sniff_zip(src: Source) -> str:
    """``"3mf"``, ``"npz"``, ``"usd"`` (USDZ) or ``"capture"`` from a zip's member names (read
    from its central directory, not the whole file)."""
    try:
        with src.stream() as stream, zipfile.ZipFile(stream) as z:
            names = z.namelist()
    except (*ZIP_ERRORS, OSError, ValueError):
        by_ext = {".zip": "capture", ".r3d": "capture", ".npz": "npz", ".usdz": "usd"}
        return by_ext.get(src.suffix, "zip")
    if meshes.sniff_3mf_names(names):
        return "3mf"
    if voxels.is_npz_names(names):
        return "npz"
    if usd.is_usdz_names(names):
        return "usd"
    return "capture"


def sniff_source(src: Source) -> str | None:
    """The format the content looks like, or None when no sniffer recognises it.

    Only the head and the size are read (a zip's member list comes from its central directory).
    """
    size = src.size
    if not size:
        return None
    head = src.head(HEAD_BYTES)
    if head.startswith(ZIP_MAGIC):
        name = sniff_zip(src)
        return name if name in FORMATS else None
    for spec in _STRONG:
        if spec.sniff is not None and spec.sniff(head, size):
            return spec.name
    for spec in _WEAK:
        if spec.sniff is not None and spec.sniff(head, size):
            return spec.name
    return None


def format_for_extension(src: Source) -> str | None:
    return EXTENSIONS.get(src.suffix)


def available_formats() -> list[dict[str, Any]]:
    """Every format voxforge reads or writes: name, kind, extensions, read, write, description."""
    return [
        {
            "name": spec.name,
            "kind": ", ".join(spec.kinds),
            "extensions": list(spec.extensions),
            "read": bool(spec.readers),
            "write": spec.writer is not None,
            "description": spec.description,
        }
        for _, spec in FORMATS.items()
    ]
