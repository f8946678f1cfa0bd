"""PCD (Point Cloud Library) point clouds: ascii, binary and binary_compressed (LZF).

PCL marks missing measurements of organised (depth-image shaped) clouds with NaN coordinates;
those points are dropped (the count goes to ``meta["dropped_nonfinite"]``) rather than refusing
the file. Colour is PCL's packed ``rgb``/``rgba`` field (float32 or uint32 bits):
``(v >> 16) & 255, (v >> 8) & 255, v & 255``.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from dataclasses import dataclass

import numpy as np

from voxforge.core.outputs import atomic_write_bytes
from voxforge.core.pointcloud import PointCloud
from voxforge.io._base import FormatSpec, Source, check_count, text_table_problem
from voxforge.io.lzf import lzf_compress, lzf_decompress

PCD_KINDS = {"F": "f", "U": "u", "I": "i"}
ENCODINGS = ("ascii", "binary", "binary_compressed")
HEADER_KEYS = ("VERSION", "FIELDS", "SIZE", "TYPE", "COUNT", "WIDTH", "HEIGHT", "VIEWPOINT", "POINTS")
MAX_HEADER_LINES = 64
MAX_LZF_RATIO = 90  # one 3-byte LZF back-reference expands to at most 264 bytes


@dataclass
class PcdHeader:
    fields: list[str]
    sizes: list[int]
    types: list[str]
    counts: list[int]
    points: int
    width: int
    height: int
    encoding: str
    body_offset: int

    def dtype(self) -> np.dtype:
        """Row layout as a packed little-endian structured dtype (padding fields get unique names)."""
        spec = []
        for i, (name, size, kind, count) in enumerate(
            zip(self.fields, self.sizes, self.types, self.counts, strict=True)
        ):
            code = f"<{PCD_KINDS[kind]}{size}"
            key = name if name != "_" else f"_pad{i}"
            spec.append((key, code) if count == 1 else (key, code, (count,)))
        return np.dtype(spec)


def sniff_pcd(head: bytes, size: int) -> bool:
    cut = head.find(b"DATA ")
    text = (head[:cut] if cut >= 0 else head).decode("latin-1")
    lines = [ln for ln in text.splitlines()[:20] if ln.strip() and not ln.lstrip().startswith("#")]
    keys = [ln.split()[0] for ln in lines]
    return len(keys) >= 2 and keys[0] in ("VERSION", "FIELDS") and "FIELDS" in keys[:2]


def parse_header(src: Source, data: bytes) -> PcdHeader:
    values: dict[str, list[str]] = {}
    pos = 0
    for _ in range(MAX_HEADER_LINES):
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise src.error("PCD header has no DATA line (truncated or not PCD)")
        line = data[pos:nl].decode("latin-1").strip()
        pos = nl + 1
        if not line or line.startswith("#"):
            continue
        key, *rest = line.split()
        if key == "DATA":
            if not rest or rest[0] not in ENCODINGS:
                raise src.error(f"unknown PCD DATA encoding {line!r} (expected one of {ENCODINGS})")
            return _build_header(src, values, rest[0], pos)
        if key not in HEADER_KEYS:
            raise src.error(f"unexpected PCD header line {line!r}")
        values[key] = rest
    raise src.error("PCD header has no DATA line within its first lines")


def _ints(src: Source, values: dict[str, list[str]], key: str) -> list[int]:
    try:
        return [int(v) for v in values[key]]
    except KeyError:
        raise src.error(f"PCD header lacks {key}") from None
    except ValueError:
        raise src.error(f"PCD {key} must be integers, got {' '.join(values[key])!r}") from None


def _build_header(src: Source, values: dict[str, list[str]], encoding: str, offset: int) -> PcdHeader:
    fields = values.get("FIELDS", [])
    if not fields:
        raise src.error("PCD header lacks FIELDS")
    sizes = _ints(src, values, "SIZE")
    types = values.get("TYPE", [])
    counts = _ints(src, values, "COUNT") if "COUNT" in values else [1] * len(fields)
    if not (len(sizes) == len(types) == len(counts) == len(fields)):
        raise src.error(
            f"PCD header lists {len(fields)} FIELDS but {len(sizes)} SIZE, {len(types)} TYPE, "
            f"{len(counts)} COUNT entries"
        )
    for t, s in zip(types, sizes, strict=True):
        if t not in PCD_KINDS or s not in (1, 2, 4, 8) or (t == "F" and s not in (4, 8)):
            raise src.error(f"unsupported PCD field type {t}{s}")
    if any(c < 1 or c > 4096 for c in counts):
        raise src.error(f"PCD COUNT values must be 1..4096, got {counts}")
    width = _ints(src, values, "WIDTH")[0] if "WIDTH" in values else 0
    height = _ints(src, values, "HEIGHT")[0] if "HEIGHT" in values else 1
    points = _ints(src, values, "POINTS")[0] if "POINTS" in values else width * height
    check_count(src, "points", points)
    if width * height != points:
        raise src.error(f"PCD header says WIDTH {width} x HEIGHT {height} but POINTS {points}")
    return PcdHeader(fields, sizes, types, counts, points, width, height, encoding, offset)


def read_table(src: Source, data: bytes, header: PcdHeader) -> np.ndarray:
    """The body as a structured array with one field per PCD field."""
    dt = header.dtype()
    n = header.points
    body = data[header.body_offset :]
    if header.encoding == "binary":
        if len(body) < n * dt.itemsize:
            raise src.error(
                f"PCD header says {n} points ({n * dt.itemsize} bytes), "
                f"file holds {len(body) // dt.itemsize} ({len(body)} bytes)"
            )
        return np.frombuffer(body, dtype=dt, count=n)
    if header.encoding == "binary_compressed":
        return _read_compressed(src, body, header, dt)
    return _read_ascii(src, body, header, dt)


def _read_compressed(src: Source, body: bytes, header: PcdHeader, dt: np.dtype) -> np.ndarray:
    if len(body) < 8:
        raise src.error("PCD binary_compressed body is shorter than its 8-byte size header")
    packed, raw = struct.unpack("<II", body[:8])
    n = header.points
    if raw != n * dt.itemsize:
        raise src.error(
            f"PCD header says {n} points ({n * dt.itemsize} bytes) but the compressed block "
            f"expands to {raw} bytes"
        )
    if raw > MAX_LZF_RATIO * packed + 64:
        raise src.error(f"PCD compressed block of {packed} bytes cannot expand to {raw} bytes")
    if len(body) - 8 < packed:
        raise src.error(f"PCD compressed block says {packed} bytes, file holds {len(body) - 8}")
    plain = lzf_decompress(body[8 : 8 + packed], raw)
    if plain is None:
        raise src.error("PCD LZF data is corrupt (does not decompress to the declared size)")
    # the uncompressed block is column-major: all of field 0, then all of field 1, ...
    table = np.empty(n, dtype=dt)
    pos = 0
    for name in dt.names or ():
        sub = dt.fields[name][0]  # type: ignore[index]
        count = n * int(np.prod(sub.shape, dtype=np.int64))
        column = np.frombuffer(plain, dtype=sub.base, count=count, offset=pos)
        table[name] = column.reshape((n, *sub.shape))
        pos += count * sub.base.itemsize
    return table


def _read_ascii(src: Source, body: bytes, header: PcdHeader, dt: np.dtype) -> np.ndarray:
    n = header.points
    ncol = sum(header.counts)
    table = np.empty(n, dtype=dt)
    if n == 0:
        return table
    try:
        with warnings.catch_warnings():  # "input contained no data" is our error to raise
            warnings.simplefilter("ignore", UserWarning)
            values = np.loadtxt(io.BytesIO(body), dtype=np.float64, comments=None, max_rows=n, ndmin=2)
    except ValueError as e:
        problem = text_table_problem(e, "point line")
        raise src.error(f"PCD ascii rows are not {ncol} numeric values each: {problem}") from None
    if len(values) < n or values.shape[1] != ncol:
        raise src.error(
            f"PCD header says {n} points x {ncol} values, file holds {len(values)} x {values.shape[1]}"
        )
    col = 0
    for name, count in zip(dt.names or (), header.counts, strict=True):
        field_dt = dt.fields[name][0]  # type: ignore[index]
        chunk = values[:, col : col + count]
        if field_dt.base.kind in "ui":
            info = np.iinfo(field_dt.base)
            chunk = np.clip(np.nan_to_num(chunk), info.min, info.max)
        with np.errstate(over="ignore", invalid="ignore"):  # out-of-range text becomes inf
            table[name] = chunk.reshape((n, *field_dt.shape))
        col += count
    return table


def unpack_rgb(values: np.ndarray) -> np.ndarray:
    """(n,) packed float32/uint32 PCL colours -> (n, 3) float32 sRGB in [0, 1]."""
    v = np.ascontiguousarray(values)
    bits = v.view(np.uint32) if v.dtype.itemsize == 4 else v.astype(np.uint32)
    rgb = np.stack([(bits >> 16) & 255, (bits >> 8) & 255, bits & 255], axis=1)
    return rgb.astype(np.float32) / np.float32(255.0)


def read_pcd_points(src: Source, **_: object) -> PointCloud:
    """Read a PCD file: xyz (metres), packed rgb/rgba colours, normal_x/y/z normals."""
    data = src.data()
    header = parse_header(src, data)
    if not all(a in header.fields for a in "xyz"):
        raise src.error(f"PCD FIELDS {' '.join(header.fields)!r} lack x, y, z")
    table = read_table(src, data, header)
    xyz = np.stack([table[a].reshape(-1) for a in "xyz"], axis=1).astype(np.float64)
    rgb = None
    for key in ("rgb", "rgba"):
        if key in header.fields and header.sizes[header.fields.index(key)] == 4:
            rgb = unpack_rgb(table[key].reshape(-1))
            break
    normals = None
    if all(k in header.fields for k in ("normal_x", "normal_y", "normal_z")):
        normals = np.stack([table[k].reshape(-1) for k in ("normal_x", "normal_y", "normal_z")], axis=1)
    keep = np.isfinite(xyz).all(axis=1)
    dropped = int(len(keep) - keep.sum())
    if dropped:
        xyz = xyz[keep]
        rgb = None if rgb is None else rgb[keep]
        normals = None if normals is None else normals[keep]
    meta = {
        "format": "pcd",
        "encoding": header.encoding,
        "organized": header.height > 1,
        "width": header.width,
        "height": header.height,
        "dropped_nonfinite": dropped,
    }
    return PointCloud(xyz=xyz, rgb=rgb, normals=normals, meta=meta)


def encode_pcd(cloud: PointCloud, *, encoding: str = "binary", double: bool | None = None) -> bytes:
    """Serialise a cloud as PCD v0.7 bytes (fields x y z [rgb] [normal_x normal_y normal_z]).

    ``encoding`` is ``"ascii"``, ``"binary"`` or ``"binary_compressed"``. Colours are packed
    into a uint32 ``rgb`` field; xyz are float32 unless coordinates exceed 1 km (then float64).
    """
    if encoding not in ENCODINGS:
        from voxforge.core.errors import ConfigError

        raise ConfigError(f"PCD encoding must be one of {ENCODINGS}, got {encoding!r}")
    xyz = np.asarray(cloud.xyz, dtype=np.float64)
    if double is None:
        double = bool(xyz.size) and float(np.abs(xyz[np.isfinite(xyz)]).max(initial=0.0)) > 1000.0
    fields: list[tuple[str, str, np.ndarray]] = [
        (a, "<f8" if double else "<f4", xyz[:, i]) for i, a in enumerate("xyz")
    ]
    if cloud.rgb is not None:
        c = np.round(np.clip(cloud.rgb, 0.0, 1.0) * 255.0).astype(np.uint32)
        fields.append(("rgb", "<u4", (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]))
    if cloud.normals is not None:
        for i, k in enumerate(("normal_x", "normal_y", "normal_z")):
            fields.append((k, "<f4", cloud.normals[:, i]))
    n = len(xyz)
    dt = np.dtype([(name, code) for name, code, _ in fields])
    head = (
        "\n".join(
            [
                "# .PCD v0.7 - Point Cloud Data file format (written by voxforge)",
                "VERSION 0.7",
                "FIELDS " + " ".join(name for name, _, _ in fields),
                "SIZE " + " ".join(str(np.dtype(code).itemsize) for _, code, _ in fields),
                "TYPE " + " ".join(np.dtype(code).kind.upper() for _, code, _ in fields),
                "COUNT " + " ".join("1" for _ in fields),
                f"WIDTH {n}",
                "HEIGHT 1",
                "VIEWPOINT 0 0 0 1 0 0 0",
                f"POINTS {n}",
                f"DATA {encoding}",
            ]
        )
        + "\n"
    )
    if encoding == "binary_compressed":
        plain = b"".join(np.ascontiguousarray(col, dtype=code).tobytes() for _, code, col in fields)
        packed = lzf_compress(plain)
        return head.encode("ascii") + struct.pack("<II", len(packed), len(plain)) + packed
    table = np.empty(n, dtype=dt)
    for name, _, col in fields:
        table[name] = col
    if encoding == "binary":
        return head.encode("ascii") + table.tobytes()
    buf = io.StringIO()
    fmt = " ".join("%.17g" if code[1] == "f" else "%d" for _, code, _ in fields)
    np.savetxt(
        buf, np.stack([table[name].astype(np.float64) for name in dt.names or ()], axis=1), fmt=fmt
    )
    return head.encode("ascii") + buf.getvalue().encode("ascii")


def write_pcd_points(cloud: PointCloud, path: str | os.PathLike[str], **options: object) -> None:
    """Write ``cloud`` to ``path`` as PCD (``encoding="binary"`` by default), atomically."""
    atomic_write_bytes(path, encode_pcd(cloud, **options))  # type: ignore[arg-type]


FORMATS = (
    FormatSpec(
        name="pcd",
        kinds=("points",),
        extensions=(".pcd",),
        description="Point Cloud Library PCD: ascii, binary, binary_compressed; packed rgb, normals",
        readers={"points": read_pcd_points},
        writer=write_pcd_points,
        sniff=sniff_pcd,
    ),
)
