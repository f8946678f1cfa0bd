"""MagicaVoxel ``.vox`` files: chunks MAIN > SIZE, XYZI, RGBA; already z-up.

A chunk is ``id (4 bytes), content size, children size (int32 LE)``, then its content and its
children. ``XYZI`` lists voxels as ``x, y, z, colour index`` bytes; colour index ``c`` (1..255)
is ``RGBA[c - 1]`` when the file has a palette, else MagicaVoxel's default palette entry ``c``.
Files with several models (scene graphs) are read as their first model. Cells have no physical
size, so the pitch is 1 unless ``pitch=`` is given.
"""

from __future__ import annotations

import os
import struct
from typing import Any

import numpy as np

from voxforge.core.errors import SizeLimitError
from voxforge.core.outputs import atomic_write_bytes
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.io._base import FormatSpec, Source

MAX_SIZE = 256
"""MagicaVoxel's model size limit per axis."""


def default_palette() -> np.ndarray:
    """MagicaVoxel's default palette as (256, 4) uint8 RGBA; entry 0 is unused (empty).

    It is a 6x6x6 colour cube over levels ff, cc, 99, 66, 33, 00 (blue fastest, black left out)
    followed by ten-step ramps of red, green, blue and grey (ee dd bb aa 88 77 55 44 22 11).
    """
    levels = np.array([0xFF, 0xCC, 0x99, 0x66, 0x33, 0x00], dtype=np.uint8)
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    cube = np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)[:-1]  # drop black
    ramp = np.array([0xEE, 0xDD, 0xBB, 0xAA, 0x88, 0x77, 0x55, 0x44, 0x22, 0x11], dtype=np.uint8)
    zeros = np.zeros_like(ramp)
    ramps = [
        np.stack([ramp, zeros, zeros], axis=1),
        np.stack([zeros, ramp, zeros], axis=1),
        np.stack([zeros, zeros, ramp], axis=1),
        np.stack([ramp, ramp, ramp], axis=1),
    ]
    rgb = np.concatenate([np.zeros((1, 3), np.uint8), cube, *ramps])
    alpha = np.full((256, 1), 255, dtype=np.uint8)
    alpha[0] = 0
    return np.concatenate([rgb, alpha], axis=1)


def sniff_vox(head: bytes, size: int) -> bool:
    return head.startswith(b"VOX ")


def _chunks(src: Source, data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """All chunks as ``(id, content offset, content size)`` in depth-first order.

    Children follow their parent's content directly, so one flat walk that steps over each
    content (not over the children) visits the whole tree without recursion.
    """
    out: list[tuple[bytes, int, int]] = []
    pos = start
    while pos < end:
        if pos + 12 > end:
            raise src.error(f"VOX chunk header at byte {pos} is cut off (file truncated)")
        cid = data[pos : pos + 4]
        content, children = struct.unpack("<ii", data[pos + 4 : pos + 12])
        if content < 0 or children < 0 or pos + 12 + content + children > end:
            raise src.error(
                f"VOX chunk {cid!r} at byte {pos} says {content}+{children} bytes, "
                f"only {end - pos - 12} remain"
            )
        out.append((cid, pos + 12, content))
        pos += 12 + content
    return out


def read_vox_voxels(src: Source, *, pitch: float | None = None, **_: Any) -> VoxelGrid:
    """Read the first model of a .vox file with its palette colours (float32 sRGB)."""
    data = src.data()
    if not sniff_vox(data[:4], len(data)) or len(data) < 20:
        raise src.error(f"not a MagicaVoxel file (starts with {data[:8]!r}, expected b'VOX ')")
    if data[8:12] != b"MAIN":
        raise src.error(f"VOX file has {data[8:12]!r} where the MAIN chunk should be")
    chunks = _chunks(src, data, 8, len(data))
    sizes = [c for c in chunks if c[0] == b"SIZE"]
    voxels = [c for c in chunks if c[0] == b"XYZI"]
    if not sizes or not voxels:
        raise src.error("VOX file has no SIZE/XYZI chunks (no model)")
    _, off, n = sizes[0]
    if n < 12:
        raise src.error("VOX SIZE chunk is shorter than 12 bytes")
    shape = struct.unpack("<iii", data[off : off + 12])
    if min(shape) < 1 or max(shape) > MAX_SIZE:
        raise src.error(f"VOX model size {shape} is not plausible")
    _, off, n = voxels[0]
    count = struct.unpack("<i", data[off : off + 4])[0] if n >= 4 else -1
    if count < 0 or 4 + 4 * count > n:
        raise src.error(f"VOX XYZI chunk says {count} voxels but holds {max(n - 4, 0) // 4}")
    xyzi = np.frombuffer(data, dtype=np.uint8, count=4 * count, offset=off + 4).reshape(count, 4)
    idx = xyzi[:, :3].astype(np.int64)
    if count and (idx >= np.array(shape)).any():
        raise src.error(f"VOX voxel coordinates exceed the model size {shape}")
    palette = default_palette()
    rgba = [c for c in chunks if c[0] == b"RGBA"]
    if rgba:
        _, off, n = rgba[0]
        if n < 1024:
            raise src.error(f"VOX RGBA chunk holds {n} bytes, expected 1024")
        palette = np.empty((256, 4), dtype=np.uint8)
        palette[1:] = np.frombuffer(data, dtype=np.uint8, count=1020, offset=off).reshape(255, 4)
        palette[0] = 0
    occ = np.zeros(shape, dtype=bool)
    colors = np.zeros((*shape, 3), dtype=np.float32)
    occ[idx[:, 0], idx[:, 1], idx[:, 2]] = True
    colors[idx[:, 0], idx[:, 1], idx[:, 2]] = palette[xyzi[:, 3], :3].astype(np.float32) / 255.0
    meta = {"format": "vox", "models": len(sizes), "units": "cells"}
    p = 1.0 if pitch is None else float(pitch)
    return VoxelGrid(occupancy=occ, pitch=np.full(3, p), colors=colors, meta=meta)


def quantize_palette(rgb8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) uint8 colours -> (palette (k <= 255, 3) uint8, index (n,) 0-based into it).

    Exact when there are at most 255 distinct colours; otherwise channels are rounded to fewer
    bits until they fit (a uniform quantisation, enough for a preview format).
    """
    for bits in range(8, 0, -1):
        step = 1 << (8 - bits)
        q = rgb8 if bits == 8 else (rgb8 // step) * step + step // 2
        palette, index = np.unique(q.astype(np.uint8), axis=0, return_inverse=True)
        if len(palette) <= 255:
            return palette, index.reshape(-1)
    raise AssertionError("one bit per channel always fits in 255 colours")  # pragma: no cover


def encode_vox(grid: VoxelGrid) -> bytes:
    """Serialise a grid (at most 256 cells per axis) as a MagicaVoxel file with an RGBA palette."""
    if max(grid.shape) > MAX_SIZE:
        raise SizeLimitError(
            f"MagicaVoxel holds at most {MAX_SIZE} cells per axis, grid is {grid.shape}"
        )
    idx = np.argwhere(grid.occupancy)
    if grid.colors is not None:
        rgb8 = np.round(np.clip(grid.colors[grid.occupancy], 0, 1) * 255).astype(np.uint8)
    else:
        rgb8 = np.full((len(idx), 3), 200, dtype=np.uint8)
    palette, index = quantize_palette(rgb8) if len(idx) else (np.zeros((0, 3), np.uint8), idx[:, 0])
    xyzi = np.concatenate([idx.astype(np.uint8), (index + 1).astype(np.uint8)[:, None]], axis=1)
    rgba = np.zeros((256, 4), dtype=np.uint8)
    rgba[: len(palette), :3] = palette
    rgba[: len(palette), 3] = 255
    size = _chunk(b"SIZE", struct.pack("<iii", *grid.shape))
    body = _chunk(b"XYZI", struct.pack("<i", len(idx)) + xyzi.tobytes())
    pal = _chunk(b"RGBA", rgba.tobytes())
    children = size + body + pal
    main = b"MAIN" + struct.pack("<ii", 0, len(children)) + children
    return b"VOX " + struct.pack("<i", 150) + main


def _chunk(cid: bytes, content: bytes) -> bytes:
    return cid + struct.pack("<ii", len(content), 0) + content


def write_vox_voxels(grid: VoxelGrid, path: str | os.PathLike[str], **_: Any) -> None:
    """Write ``grid`` as MagicaVoxel .vox, atomically."""
    atomic_write_bytes(path, encode_vox(grid))


FORMATS = (
    FormatSpec(
        name="vox",
        kinds=("voxels",),
        extensions=(".vox",),
        description="MagicaVoxel .vox (first model, palette colours, z-up)",
        readers={"voxels": read_vox_voxels},
        writer=write_vox_voxels,
        sniff=sniff_vox,
    ),
)
