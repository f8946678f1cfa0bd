"""voxforge's own voxel grid files (``.npz``), bare ``.npy`` arrays, and the shared dataset npz.

The ``.npz`` layout (written by :func:`write_npz_voxels`, read by :func:`read_npz_voxels`):

============ ===================== ====================================================
key          shape / dtype         meaning
============ ===================== ====================================================
occupancy    (nx, ny, nz) uint8    1 where filled; axis order (x, y, z), z up
pitch        (3,) float64          cell size, metres
origin       (3,) float64          min corner of cell (0, 0, 0), metres
colors       (nx, ny, nz, 3)       optional; float32 sRGB in [0, 1] (uint8 0..255 read too)
interior     (nx, ny, nz) uint8    optional; cells inside the object emptied by hollowing
meta         () str                optional; JSON object
============ ===================== ====================================================

A dataset npz (``voxels`` (N, a, b, c), ``labels`` (N,), ``classes`` (K,)) is a training set,
not one grid: :func:`load_voxel_dataset` reads it, ``load_voxels`` refuses it by name.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any, NamedTuple

import numpy as np

from voxforge.core.errors import UnsupportedInputError, VoxforgeError
from voxforge.core.outputs import atomic_write_bytes
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.io._base import FormatSpec, Source
from voxforge.io.limits import check_npy_header, check_npz_members, read_limits

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
MAX_CELLS = 2_000_000_000


class VoxelDataset(NamedTuple):
    """A labelled set of occupancy grids (e.g. ModelNet10 at 30^3).

    Attributes:
        voxels: (N, a, b, c) uint8 occupancy, 1 = filled, axis 2 up.
        labels: (N,) int64 class index into ``classes``.
        classes: the class names.
    """

    voxels: np.ndarray
    labels: np.ndarray
    classes: list[str]


def sniff_npy(head: bytes, size: int) -> bool:
    return head.startswith(NPY_MAGIC)


def is_npz_names(names: list[str]) -> bool:
    """True when every member of a zip is a ``.npy`` array (what ``np.savez`` writes)."""
    return bool(names) and all(n.endswith(".npy") for n in names)


def _open_npz(src: Source) -> dict[str, np.ndarray]:
    head = src.head(8)
    if not head.startswith(ZIP_MAGIC):
        raise src.error(f"not an .npz archive (starts with {head!r}, expected a zip)")
    try:
        with zipfile.ZipFile(io.BytesIO(src.data())) as archive:
            check_npz_members(archive, read_limits(), src.name)
        with np.load(io.BytesIO(src.data()), allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise src.error("is a single .npy array, not an .npz archive")
            return {k: z[k] for k in z.files}
    except VoxforgeError:
        raise
    except zipfile.BadZipFile:
        raise src.error("not a readable .npz archive: not a complete zip (cut off or corrupt)") from None
    except Exception as e:  # zipfile/zlib/numpy raise many types for corrupt archives
        raise src.error(f"not a readable .npz archive: a member is cut off or corrupt ({e})") from None


def read_npz_voxels(src: Source, **_: Any) -> VoxelGrid:
    """Read a voxforge grid npz (see the module table); colours uint8 are scaled to [0, 1]."""
    arrays = _open_npz(src)
    if "occupancy" not in arrays:
        if {"voxels", "labels"} <= arrays.keys():
            raise UnsupportedInputError(
                f"{src.name}: is a voxel dataset (voxels/labels/classes); use load_voxel_dataset"
            )
        raise src.error(f"npz lacks an 'occupancy' array (has {', '.join(sorted(arrays)) or 'none'})")
    occ = arrays["occupancy"]
    if occ.ndim != 3 or occ.dtype.kind not in "bui":
        raise src.error(f"'occupancy' must be a 3-D bool/uint8 array, got {occ.dtype} {occ.shape}")
    pitch = _vector(src, arrays, "pitch", default=None)
    origin = _vector(src, arrays, "origin", default=np.zeros(3))
    colors = arrays.get("colors")
    if colors is not None:
        if colors.dtype == np.uint8:
            colors = colors.astype(np.float32) / np.float32(255.0)
        elif colors.dtype.kind != "f":
            raise src.error(f"'colors' must be float32 or uint8, got {colors.dtype}")
    meta: dict[str, Any] = {}
    if "meta" in arrays:
        try:
            meta = json.loads(str(arrays["meta"]))
        except json.JSONDecodeError as e:
            raise src.error(f"'meta' is not a JSON string ({e.msg})") from None
        if not isinstance(meta, dict):
            raise src.error("'meta' JSON must be an object")
    meta.update(format="npz")
    return VoxelGrid(
        occupancy=occ != 0,
        pitch=pitch,
        origin=origin,
        colors=colors,
        interior=None if "interior" not in arrays else arrays["interior"] != 0,
        meta=meta,
    )


def _vector(src: Source, arrays: dict[str, np.ndarray], key: str, default: Any) -> np.ndarray:
    if key not in arrays:
        if default is None:
            raise src.error(f"npz lacks '{key}'")
        return default
    v = np.asarray(arrays[key])
    if v.dtype.kind not in "fiu" or v.size not in (1, 3):
        raise src.error(f"'{key}' must hold 1 or 3 numbers, got {v.dtype} {v.shape}")
    return np.broadcast_to(v.astype(np.float64).reshape(-1), (3,)).copy()


def read_npy_voxels(src: Source, *, pitch: float | None = None, **_: Any) -> VoxelGrid:
    """A bare 3-D array: nonzero cells filled, (x, y, z) z-up, cubic ``pitch`` (default 1)."""
    data = src.data()
    _check_npy_header(src, data)
    try:
        check_npy_header(io.BytesIO(data), read_limits(), src.name)
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise src.error(f"not a readable .npy array ({type(e).__name__}: {e})") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 3 or arr.dtype.kind not in "buif":
        shape = getattr(arr, "shape", None)
        raise src.error(f".npy must hold a 3-D numeric array, got shape {shape}")
    p = 1.0 if pitch is None else float(pitch)
    occ = np.nan_to_num(arr) != 0
    return VoxelGrid(occupancy=occ, pitch=np.full(3, p), meta={"format": "npy", "units": "cells"})


def _check_npy_header(src: Source, data: bytes) -> None:
    """The .npy header's dtype and shape against the file's length, in our words."""
    from numpy.lib import format as npformat

    stream = io.BytesIO(data)
    try:
        version = npformat.read_magic(stream)
        reader = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
        shape, _, dtype = reader(stream)
    except (ValueError, OSError, EOFError, SyntaxError):
        raise src.error(".npy header is cut off or corrupt") from None
    if dtype.hasobject:
        raise src.error(".npy holds Python objects, not numbers; save a numeric 3-D array")
    need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    have = len(data) - stream.tell()
    if have < need:
        raise src.error(
            f".npy header says a {dtype} array of shape {tuple(shape)} ({need} bytes), "
            f"file holds {have} bytes (cut off)"
        )


def write_npz_voxels(grid: VoxelGrid, path: str | os.PathLike[str], **_: Any) -> None:
    """Write ``grid`` as a voxforge npz (compressed), via a temporary file and rename."""
    atomic_write_bytes(path, encode_npz(grid))


def encode_npz(grid: VoxelGrid) -> bytes:
    arrays: dict[str, np.ndarray] = {
        "occupancy": grid.occupancy.astype(np.uint8),
        "pitch": np.asarray(grid.pitch, dtype=np.float64),
        "origin": np.asarray(grid.origin, dtype=np.float64),
        "meta": np.array(json.dumps(grid.meta, default=_json_default)),
    }
    if grid.colors is not None:
        arrays["colors"] = np.asarray(grid.colors, dtype=np.float32)
    if grid.interior is not None:
        arrays["interior"] = grid.interior.astype(np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def load_voxel_dataset(
    path: str | os.PathLike[str] | bytes, *, filename: str | None = None
) -> VoxelDataset:
    """Read a labelled voxel dataset npz (keys ``voxels``, ``labels``, ``classes``).

    Used by the classifier; a single grid npz is refused with a message naming load_voxels.
    """
    src = Source.from_input(path, filename)
    arrays = _open_npz(src)
    missing = {"voxels", "labels", "classes"} - arrays.keys()
    if missing:
        hint = "; it is a single grid, use load_voxels" if "occupancy" in arrays else ""
        raise src.error(f"dataset npz lacks {', '.join(sorted(missing))}{hint}")
    vox, labels, classes = arrays["voxels"], arrays["labels"], arrays["classes"]
    if vox.ndim != 4 or labels.shape != (len(vox),):
        raise src.error(
            f"dataset npz needs voxels (N, a, b, c) and labels (N,), got {vox.shape} and {labels.shape}"
        )
    names = [str(c) for c in np.asarray(classes).reshape(-1)]
    labels = labels.astype(np.int64)
    if len(labels) and (labels.min() < 0 or labels.max() >= len(names)):
        raise src.error(f"dataset labels run {labels.min()}..{labels.max()} but {len(names)} classes")
    return VoxelDataset(voxels=vox, labels=labels, classes=names)


FORMATS = (
    FormatSpec(
        name="npz",
        kinds=("voxels",),
        extensions=(".npz",),
        description="voxforge voxel grid: occupancy, pitch, origin, colours, interior, JSON meta",
        readers={"voxels": read_npz_voxels},
        writer=write_npz_voxels,
        sniff=None,  # a zip of .npy members: recognised by formats.sniff
    ),
    FormatSpec(
        name="npy",
        kinds=("voxels",),
        extensions=(".npy",),
        description="bare 3-D numpy array as occupancy (pitch 1, z-up)",
        readers={"voxels": read_npy_voxels},
        sniff=sniff_npy,
    ),
)
