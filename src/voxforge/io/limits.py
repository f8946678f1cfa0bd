"""Resource caps on inputs, checked from headers before anything is decompressed or allocated.

:class:`ReadLimits` holds the caps in one place (the service fills it from its settings).
:func:`check_input_limits` reads only the header of a file (the ``.npy`` header of each npz
member, the binvox ``dim`` line, the vox ``SIZE`` chunk, PLY/PCD/LAS point counts, a zip's
member table) and raises :class:`~voxforge.core.errors.SizeLimitError` naming the cap, so a
2 MB upload that declares a 2 GB array is refused before a byte of it is inflated.
:func:`extract_zip_capped` unpacks a zip counting the bytes really written and stops at the
cap, whatever the member table declares.
"""

from __future__ import annotations

import re
import struct
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from voxforge.core.errors import InputFormatError, SizeLimitError

HEAD_BYTES = 1 << 16
"""How much of a text header is read to find its counts."""


class ReadLimits(BaseModel):
    """The largest input a reader may expand into memory or onto disk."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_array_bytes: int = Field(1 << 30, ge=1, description="Bytes of one decoded array (npy/npz).")
    max_cells: int = Field(
        64_000_000, ge=1, description="Cells of a voxel grid read from a file (npz, npy, binvox, vox)."
    )
    max_points: int = Field(50_000_000, ge=1, description="Points of a PLY/PCD/LAS point cloud.")
    max_unzipped_bytes: int = Field(
        2 << 30, ge=1, description="Bytes a zip (capture, image set) may expand to on disk."
    )
    max_zip_members: int = Field(20_000, ge=1, description="Members of a zip.")


def _too_big(name: str, what: str, value: int, cap: int, unit: str) -> SizeLimitError:
    return SizeLimitError(f"{name}: {what} {value:,} {unit} is over the limit of {cap:,} {unit}")


def check_input_limits(path: Path, fmt: str, limits: ReadLimits, shown_name: str | None = None) -> None:
    """Refuse ``path`` (already sniffed as ``fmt``) when its header declares more than ``limits``.

    Formats without a header-declared size (meshes, images) pass; their upload cap bounds them.

    Raises:
        SizeLimitError: a declared size is over its cap; the message names the cap.
    """
    name = shown_name or path.name
    check = _CHECKS.get(fmt)
    if check is not None:
        check(path, limits, name)


def check_npy_header(fh: IO[bytes], limits: ReadLimits, name: str) -> tuple[int, ...]:
    """Shape of the ``.npy`` array whose header starts at ``fh``'s position, within the caps."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    except (ValueError, OSError, EOFError) as err:
        raise InputFormatError(f"{name}: unreadable .npy header ({err})") from None
    count = int(np.prod(shape, dtype=object)) if shape else 1
    nbytes = count * dtype.itemsize
    if nbytes > limits.max_array_bytes:
        raise _too_big(name, f"array {shape} {dtype} is", nbytes, limits.max_array_bytes, "bytes;")
    if len(shape) == 3 and count > limits.max_cells:
        raise _too_big(name, f"grid {shape} has", count, limits.max_cells, "cells;")
    return tuple(shape)


def _check_npy(path: Path, limits: ReadLimits, name: str) -> None:
    with open(path, "rb") as fh:
        check_npy_header(fh, limits, name)


def check_npz_members(z: zipfile.ZipFile, limits: ReadLimits, name: str) -> None:
    """Check the member table and each member's ``.npy`` header of an open npz archive."""
    for info in _check_members(z, limits, name):
        if info.filename.endswith(".npy"):
            with z.open(info) as fh:  # inflates only the header's few bytes
                check_npy_header(fh, limits, f"{name}:{info.filename}")


def _check_npz(path: Path, limits: ReadLimits, name: str) -> None:
    try:
        with zipfile.ZipFile(path) as z:
            check_npz_members(z, limits, name)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as err:
        raise InputFormatError(f"{name}: not a readable zip ({type(err).__name__})") from None


def _check_zip(path: Path, limits: ReadLimits, name: str) -> None:
    try:
        with zipfile.ZipFile(path) as z:
            _check_members(z, limits, name)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as err:
        raise InputFormatError(f"{name}: not a readable zip ({type(err).__name__})") from None


def _check_members(z: zipfile.ZipFile, limits: ReadLimits, name: str) -> list[zipfile.ZipInfo]:
    members = z.infolist()
    if len(members) > limits.max_zip_members:
        raise _too_big(name, "zip has", len(members), limits.max_zip_members, "members;")
    declared = sum(m.file_size for m in members)
    if declared > limits.max_unzipped_bytes:
        raise _too_big(name, "zip declares", declared, limits.max_unzipped_bytes, "bytes unpacked;")
    return members


def _head(path: Path, n: int = HEAD_BYTES) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def _check_cells(name: str, dims: list[int], limits: ReadLimits) -> None:
    cells = int(np.prod(dims, dtype=object))
    if cells > limits.max_cells:
        raise _too_big(name, f"grid {tuple(dims)} has", cells, limits.max_cells, "cells;")


def _check_binvox(path: Path, limits: ReadLimits, name: str) -> None:
    m = re.search(rb"^dim\s+(\d+)\s+(\d+)\s+(\d+)", _head(path, 4096), re.MULTILINE)
    if m:
        _check_cells(name, [int(v) for v in m.groups()], limits)


def _check_vox(path: Path, limits: ReadLimits, name: str) -> None:
    head = _head(path)
    at = head.find(b"SIZE")
    if at >= 0 and len(head) >= at + 24:
        _check_cells(name, list(struct.unpack_from("<iii", head, at + 12)), limits)


def _check_points(name: str, count: int, limits: ReadLimits) -> None:
    if count > limits.max_points:
        raise _too_big(name, "header declares", count, limits.max_points, "points;")


def _check_ply(path: Path, limits: ReadLimits, name: str) -> None:
    head = _head(path)
    end = head.find(b"end_header")
    text = head[: end if end >= 0 else len(head)]
    for m in re.finditer(rb"^element\s+(\S+)\s+(\d+)", text, re.MULTILINE):
        _check_points(f"{name} ({m.group(1).decode('ascii', 'replace')})", int(m.group(2)), limits)


def _check_pcd(path: Path, limits: ReadLimits, name: str) -> None:
    text = _head(path)
    m = re.search(rb"^POINTS\s+(\d+)", text, re.MULTILINE)
    if m:
        _check_points(name, int(m.group(1)), limits)
        return
    w = re.search(rb"^WIDTH\s+(\d+)", text, re.MULTILINE)
    h = re.search(rb"^HEIGHT\s+(\d+)", text, re.MULTILINE)
    if w and h:
        _check_points(name, int(w.group(1)) * int(h.group(1)), limits)


def _check_las(path: Path, limits: ReadLimits, name: str) -> None:
    head = _head(path, 375)
    if len(head) < 108:
        return
    count = struct.unpack_from("<I", head, 107)[0]
    if len(head) >= 255 and head[25] >= 4:  # LAS 1.4 keeps a 64-bit count at 247
        count = max(count, struct.unpack_from("<Q", head, 247)[0])
    _check_points(name, count, limits)


_CHECKS: dict[str, Any] = {
    "npy": _check_npy,
    "npz": _check_npz,
    "capture": _check_zip,
    "images": _check_zip,
    "3mf": _check_zip,
    "binvox": _check_binvox,
    "vox": _check_vox,
    "ply": _check_ply,
    "pcd": _check_pcd,
    "las": _check_las,
    "laz": _check_las,
}


def extract_zip_capped(
    z: zipfile.ZipFile,
    dest: Path,
    members: list[zipfile.ZipInfo],
    max_bytes: int,
    name: str,
    chunk: int = 1 << 20,
) -> int:
    """Unpack ``members`` under ``dest`` counting the bytes really written; returns the total.

    Member names must already be checked (no absolute paths or ``..``).

    Raises:
        SizeLimitError: the written bytes pass ``max_bytes`` (what was written stays in ``dest``,
            which the caller removes).
    """
    total = 0
    for info in members:
        target = dest.joinpath(*PurePosixPath(info.filename).parts)
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with z.open(info) as src, open(target, "wb") as out:
            while True:
                block = src.read(chunk)
                if not block:
                    break
                total += len(block)
                if total > max_bytes:
                    raise SizeLimitError(
                        f"{name}: unpacking passed the limit of {max_bytes:,} bytes; "
                        "the archive expands to more"
                    )
                out.write(block)
    return total


_CURRENT: ContextVar[ReadLimits | None] = ContextVar("voxforge_read_limits", default=None)


def read_limits() -> ReadLimits:
    """The caps in force for this context (the defaults unless :func:`use_limits` set others)."""
    return _CURRENT.get() or ReadLimits()


@contextmanager
def use_limits(limits: ReadLimits) -> Iterator[ReadLimits]:
    """Apply ``limits`` to readers called inside the ``with`` block (this thread/task only)."""
    token = _CURRENT.set(limits)
    try:
        yield limits
    finally:
        _CURRENT.reset(token)
