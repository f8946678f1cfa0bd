"""binvox voxel files (Patrick Min's voxelizer; ShapeNet ships them).

Layout: a text header (``#binvox 1``, ``dim``, ``translate``, ``scale``, ``data``) then
run-length pairs ``(value, count)`` of bytes. Voxels run x slowest, then z, then y fastest
(file index ``x * (dz * dy) + z * dy + y``), and binvox's frame is **Y-up** (its viewer and the
meshes it is fed, e.g. ShapeNet, are Y-up). We rotate into our z-up frame with the same
rotation as meshes, (x, y, z) -> (x, -z, y): as the file array is ``[x, z, y]``, our grid is
simply that array flipped along its middle axis. ``up="z"`` keeps binvox axes as they are (for
files voxelized from z-up meshes). The world box is ``translate + [0, scale]`` on every axis,
so the pitch is ``scale / dim``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from voxforge.core.errors import SizeLimitError
from voxforge.core.outputs import atomic_write_bytes
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.io._base import FormatSpec, Source, normalize_up

MAX_CELLS = 1 << 31
MAX_HEADER_LINES = 16


def sniff_binvox(head: bytes, size: int) -> bool:
    return head.startswith(b"#binvox")


def _parse_header(src: Source, data: bytes) -> tuple[tuple[int, int, int], np.ndarray, float, int]:
    """(dims x, y, z in binvox axes), translate (3,), scale, offset of the RLE data."""
    pos = 0
    dims: tuple[int, int, int] | None = None
    translate = np.zeros(3)
    scale = 1.0
    for i in range(MAX_HEADER_LINES):
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
        line = data[pos:nl].decode("latin-1").strip()
        pos = nl + 1
        if i == 0:
            if not line.startswith("#binvox"):
                raise src.error(f"not a binvox file (first line {line[:20]!r})")
            continue
        key, *rest = line.split() or [""]
        try:
            if key == "dim":
                d = tuple(int(v) for v in rest)
                if len(d) != 3 or min(d) < 1 or int(np.prod(d, dtype=np.int64)) > MAX_CELLS:
                    raise ValueError(line)
                dims = (d[0], d[1], d[2])
            elif key == "translate":
                translate = np.array([float(v) for v in rest], dtype=np.float64).reshape(3)
            elif key == "scale":
                scale = float(rest[0])
            elif key == "data":
                if dims is None:
                    raise src.error("binvox header has no 'dim' line before 'data'")
                if not (np.isfinite(scale) and scale > 0 and np.isfinite(translate).all()):
                    raise src.error(f"binvox scale {scale} / translate {translate} are not usable")
                return dims, translate, scale, pos
            else:
                raise src.error(f"unexpected binvox header line {line[:40]!r}")
        except (ValueError, IndexError):
            raise src.error(f"bad binvox header line {line[:40]!r}") from None
    raise src.error("binvox header has no 'data' line (truncated or not binvox)")


def decode_rle(src: Source, body: bytes, total: int) -> np.ndarray:
    """Expand ``(value, count)`` byte pairs to ``total`` bool cells; counts are checked first."""
    if len(body) % 2:
        raise src.error("binvox run-length data has an odd number of bytes (truncated)")
    pairs = np.frombuffer(body, dtype=np.uint8).reshape(-1, 2)
    counts = pairs[:, 1].astype(np.int64)
    held = int(counts.sum())
    if held != total:
        raise src.error(f"binvox header says {total} voxels, run-length data holds {held}")
    return np.repeat(pairs[:, 0] != 0, counts)


def read_binvox_voxels(src: Source, *, up: str | None = None, **_: Any) -> VoxelGrid:
    """Read a binvox file into a z-up grid (see module doc for the axis conversion)."""
    up = normalize_up(up) or "y"
    data = src.data()
    dims, translate, scale, offset = _parse_header(src, data)
    dx, dy, dz = dims
    cells = decode_rle(src, data[offset:], dx * dy * dz).reshape(dx, dz, dy)  # file order [x, z, y]
    pitch = scale / max(dims)
    if up == "y":
        occ = cells[:, ::-1, :]  # [x, -z, y]: our (x, y, z) with y_ours = -z_binvox
        origin = np.array([translate[0], -(translate[2] + dz * pitch), translate[1]])
    else:
        occ = cells.transpose(0, 2, 1)  # [x, y, z] in binvox axes, taken as z-up already
        origin = translate.copy()
    meta = {"format": "binvox", "up": up, "units": "m", "units_guessed": True}
    return VoxelGrid(
        occupancy=np.ascontiguousarray(occ), pitch=np.full(3, pitch), origin=origin, meta=meta
    )


def encode_rle(flat: np.ndarray) -> bytes:
    """Run-length encode a flat bool array as binvox ``(value, count <= 255)`` pairs (vectorised)."""
    v = np.asarray(flat, dtype=np.uint8)
    if v.size == 0:
        return b""
    starts = np.flatnonzero(np.concatenate(([True], v[1:] != v[:-1])))
    lengths = np.diff(np.append(starts, v.size))
    chunks = (lengths + 254) // 255
    values = np.repeat(v[starts], chunks)
    counts = np.full(int(chunks.sum()), 255, dtype=np.int64)
    last = np.cumsum(chunks) - 1
    counts[last] = lengths - 255 * (chunks - 1)
    return np.stack([values, counts.astype(np.uint8)], axis=1).tobytes()


def encode_binvox(grid: VoxelGrid, *, up: str | None = None) -> bytes:
    """Serialise a cubic-pitch grid as binvox (inverse of :func:`read_binvox_voxels`).

    binvox stores one scale for a cube of ``max(dims)`` cells, so the pitch must be equal on
    all axes; non-cube grids are written with their own dims (readers that assume a cube
    should be given cubic grids).
    """
    up = normalize_up(up) or "y"
    p = np.asarray(grid.pitch, dtype=np.float64)
    if not np.allclose(p, p[0], rtol=1e-9):
        raise SizeLimitError(f"binvox needs equal pitch on every axis, grid has {p.tolist()}")
    nx, ny, nz = grid.shape
    if up == "y":
        file_cells = grid.occupancy[:, ::-1, :]  # [x, z_b, y_b] with z_b = -y_ours
        dims = (nx, nz, ny)
        o = grid.origin
        translate = (o[0], o[2], -(o[1] + ny * p[0]))
    else:
        file_cells = grid.occupancy.transpose(0, 2, 1)
        dims = (nx, ny, nz)
        translate = tuple(grid.origin)
    translate = tuple(float(t) for t in translate)
    scale = float(p[0]) * max(dims)
    header = (
        "#binvox 1\n"
        f"dim {dims[0]} {dims[1]} {dims[2]}\n"
        f"translate {translate[0]!r} {translate[1]!r} {translate[2]!r}\n"
        f"scale {scale!r}\n"
        "data\n"
    )
    return header.encode("ascii") + encode_rle(np.ascontiguousarray(file_cells).reshape(-1))


def write_binvox_voxels(grid: VoxelGrid, path: str | os.PathLike[str], **options: Any) -> None:
    """Write ``grid`` as binvox, atomically."""
    atomic_write_bytes(path, encode_binvox(grid, **options))


FORMATS = (
    FormatSpec(
        name="binvox",
        kinds=("voxels",),
        extensions=(".binvox",),
        description="binvox run-length voxels (x-z-y order, Y-up; ShapeNet)",
        readers={"voxels": read_binvox_voxels},
        writer=write_binvox_voxels,
        sniff=sniff_binvox,
    ),
)
