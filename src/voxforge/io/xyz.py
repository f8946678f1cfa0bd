"""Plain-text point files (XYZ, TXT, CSV, PTS-like): one point per line.

The delimiter (comma, semicolon, tab or whitespace) and an optional header line are detected.
Columns are named by the header when it has names (``x y z r g b nx ny nz``, ``//X,Y,Z,R,G,B``,
``red green blue``, ``normal_x``); without one, after x y z the first triple of unit-length
vectors is taken as normals and the first triple within 0..255 (or 0..1) as colours, so
``x y z r g b``, ``x y z r g b a``, ``x y z i r g b`` and ``x y z r g b nx ny nz`` all work.
"""

from __future__ import annotations

import io
import os
import re

import numpy as np

from voxforge.core.outputs import atomic_write_bytes
from voxforge.core.pointcloud import PointCloud
from voxforge.io._base import FormatSpec, Source, colors_to_unit, text_head, text_table_problem

NUMBER = re.compile(r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|nan|inf)$", re.IGNORECASE)
HEADER_NAMES = {
    "x": "x",
    "y": "y",
    "z": "z",
    "r": "r",
    "red": "r",
    "g": "g",
    "green": "g",
    "b": "b",
    "blue": "b",
    "nx": "nx",
    "normal_x": "nx",
    "ny": "ny",
    "normal_y": "ny",
    "nz": "nz",
    "normal_z": "nz",
}
UNIT_TOLERANCE = 0.02


def _split(line: str, delimiter: str | None) -> list[str]:
    return [t.strip() for t in line.split(delimiter)] if delimiter else line.split()


def _data_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def detect_delimiter(line: str) -> str | None:
    """Comma, semicolon or tab when the line holds one; None means runs of whitespace."""
    for d in (",", ";", "\t"):
        if d in line:
            return d
    return None


def _is_numeric_row(tokens: list[str]) -> bool:
    return len(tokens) >= 3 and all(NUMBER.match(t) for t in tokens)


def sniff_xyz(head: bytes, size: int) -> bool:
    text = text_head(head)
    if text is None:
        return False
    lines = _data_lines(text)[:20]
    if len(head) < size and len(lines) > 1:
        lines = lines[:-1]  # the last line of the head may be cut
    if not lines:
        return False
    if not _is_numeric_row(_split(lines[0], detect_delimiter(lines[0]))):
        lines = lines[1:]  # one header line
    rows = [_split(ln, detect_delimiter(ln)) for ln in lines]
    return bool(rows) and all(_is_numeric_row(r) for r in rows) and len({len(r) for r in rows}) == 1


def _header_columns(tokens: list[str]) -> dict[str, int]:
    names = [t.strip().lstrip("/").strip().lower() for t in tokens]
    return {HEADER_NAMES[n]: i for i, n in enumerate(names) if n in HEADER_NAMES}


def _find_normals(values: np.ndarray, start: int) -> int | None:
    for s in range(start, values.shape[1] - 2):
        block = values[:, s : s + 3]
        # unit vectors that are not plainly colours (pure (1, 0, 0) reds stay colours)
        if (block < 0).any() or (block != np.round(block)).any():
            norms = np.linalg.norm(block, axis=1)
            if np.all(np.abs(norms - 1.0) < UNIT_TOLERANCE):
                return s
    return None


def _find_colors(values: np.ndarray, start: int, skip: set[int]) -> int | None:
    for s in range(start, values.shape[1] - 2):
        if skip & {s, s + 1, s + 2}:
            continue
        block = values[:, s : s + 3]
        if (block >= 0).all() and (block <= 255).all():
            if block.max() > 1.0 and not np.all(block == np.round(block)):
                continue  # 0..255 colours are whole numbers
            return s
    return None


def read_xyz_points(src: Source, **_: object) -> PointCloud:
    """Read a text point file; xyz in metres unless ``units=`` says otherwise."""
    text = text_head(src.data()) if src.data() else ""
    if text is None:
        raise src.error("not a text point file (binary content)")
    lines = _data_lines(text)
    if not lines:
        raise src.error("text point file holds no data lines")
    delimiter = detect_delimiter(lines[0] if len(lines) == 1 else lines[1])
    first = _split(lines[0], delimiter)
    columns: dict[str, int] = {}
    if not _is_numeric_row(first):
        columns = _header_columns(first)
        lines = lines[1:]
        if not lines:
            raise src.error("text point file has a header but no data lines")
    ncol = len(_split(lines[0], delimiter))
    if ncol < 3:
        raise src.error(f"text point file rows need at least x y z, first row has {ncol} values")
    try:
        values = np.loadtxt(io.StringIO("\n".join(lines)), delimiter=delimiter, ndmin=2, comments=None)
    except ValueError as e:
        problem = text_table_problem(e, "data line")
        raise src.error(
            f"text point file rows are not all numeric with {ncol} columns: {problem}"
        ) from None
    xyz_cols = [columns.get(a, i) for i, a in enumerate("xyz")]
    normal_at = _find_normals(values, 3) if not columns else None
    color_at = None
    if not columns:
        skip = set() if normal_at is None else {normal_at, normal_at + 1, normal_at + 2}
        color_at = _find_colors(values, 3, skip)
    xyz = values[:, xyz_cols]
    rgb = normals = None
    if all(c in columns for c in "rgb"):
        rgb = colors_to_unit(values[:, [columns["r"], columns["g"], columns["b"]]])
    elif color_at is not None:
        rgb = colors_to_unit(values[:, color_at : color_at + 3])
    if all(c in columns for c in ("nx", "ny", "nz")):
        normals = values[:, [columns["nx"], columns["ny"], columns["nz"]]]
    elif normal_at is not None:
        normals = values[:, normal_at : normal_at + 3]
    meta = {"format": "xyz", "columns": ncol, "delimiter": delimiter or "whitespace"}
    return PointCloud(xyz=xyz, rgb=rgb, normals=normals, meta=meta)


def encode_xyz(cloud: PointCloud, *, delimiter: str = " ") -> bytes:
    """``x y z [r g b] [nx ny nz]`` per line; colours as 0..255 integers, full float precision."""
    cols = [np.asarray(cloud.xyz, dtype=np.float64)]
    fmt = ["%.17g"] * 3
    if cloud.rgb is not None:
        cols.append(np.round(np.clip(cloud.rgb, 0.0, 1.0) * 255.0))
        fmt += ["%d"] * 3
    if cloud.normals is not None:
        cols.append(cloud.normals.astype(np.float64))
        fmt += ["%.9g"] * 3
    buf = io.StringIO()
    np.savetxt(buf, np.concatenate(cols, axis=1), fmt=fmt, delimiter=delimiter)
    return buf.getvalue().encode("ascii")


def write_xyz_points(cloud: PointCloud, path: str | os.PathLike[str], **options: object) -> None:
    """Write ``cloud`` as a text point file, atomically."""
    atomic_write_bytes(path, encode_xyz(cloud, **options))  # type: ignore[arg-type]


FORMATS = (
    FormatSpec(
        name="xyz",
        kinds=("points",),
        extensions=(".xyz", ".txt", ".csv", ".pts", ".asc"),
        description="text points: x y z [colour 0-255 or 0-1] [normals], any delimiter, header optional",
        readers={"points": read_xyz_points},
        writer=write_xyz_points,
        sniff=sniff_xyz,
        strong=False,
    ),
)
