"""PLY (Stanford polygon file): point clouds with our own header parser, meshes through trimesh.

The vertex block of a binary PLY is read with one ``np.frombuffer`` over a structured dtype built
from the header, so a 1M-point coloured file loads in tens of milliseconds. A PLY whose header
declares faces is a mesh (read by trimesh); without faces it is a point cloud. Coordinates are
taken as z-up metres (scanners write them so).
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass

import numpy as np

from voxforge.core.errors import GeometryError
from voxforge.core.outputs import atomic_write_bytes
from voxforge.core.pointcloud import PointCloud
from voxforge.io._base import FormatSpec, Source, check_count, colors_to_unit, text_table_problem

PLY_TYPES: dict[str, str] = {
    "char": "i1",
    "int8": "i1",
    "uchar": "u1",
    "uint8": "u1",
    "short": "i2",
    "int16": "i2",
    "ushort": "u2",
    "uint16": "u2",
    "int": "i4",
    "int32": "i4",
    "uint": "u4",
    "uint32": "u4",
    "float": "f4",
    "float32": "f4",
    "double": "f8",
    "float64": "f8",
}
PLY_NAMES = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort", "i4": "int", "u4": "uint"}
PLY_NAMES |= {"f4": "float", "f8": "double"}
ENCODINGS = {"ascii": "", "binary_little_endian": "<", "binary_big_endian": ">"}
COLOR_NAMES = (
    ("red", "green", "blue"),
    ("r", "g", "b"),
    ("diffuse_red", "diffuse_green", "diffuse_blue"),
)
NORMAL_NAMES = (("nx", "ny", "nz"), ("normal_x", "normal_y", "normal_z"))
MAX_HEADER = 1 << 20


@dataclass
class PlyProperty:
    name: str
    dtype: str  # numpy type code without byte order, e.g. "f4"
    list_count: str | None = None  # numpy code of the list length, None for scalars


@dataclass
class PlyElement:
    name: str
    count: int
    properties: list[PlyProperty]

    @property
    def fixed_size(self) -> bool:
        return all(p.list_count is None for p in self.properties)

    def dtype(self, order: str) -> np.dtype:
        return np.dtype([(p.name, order + p.dtype) for p in self.properties])


@dataclass
class PlyHeader:
    encoding: str  # "ascii", "binary_little_endian", "binary_big_endian"
    elements: list[PlyElement]
    body_offset: int

    def element(self, name: str) -> PlyElement | None:
        return next((e for e in self.elements if e.name == name), None)

    @property
    def face_count(self) -> int:
        e = self.element("face")
        return 0 if e is None else e.count


def sniff_ply(head: bytes, size: int) -> bool:
    return head.startswith((b"ply\n", b"ply\r\n", b"ply\r"))


def parse_header(src: Source, data: bytes) -> PlyHeader:
    """Parse the text header; raises InputFormatError naming the file and the bad line."""
    if not sniff_ply(data[:8], len(data)):
        raise src.error(f"not a PLY file (starts with {data[:12]!r}, expected b'ply')")
    end = data.find(b"end_header", 0, MAX_HEADER)
    if end < 0:
        raise src.error("PLY header has no 'end_header' line (truncated or not PLY)")
    nl = data.find(b"\n", end)
    body_offset = len(data) if nl < 0 else nl + 1
    try:
        lines = data[:end].decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise src.error("PLY header is not ASCII text") from None
    encoding: str | None = None
    elements: list[PlyElement] = []
    for raw in lines[1:]:
        parts = raw.split()
        if not parts or parts[0] in ("comment", "obj_info"):
            continue
        key = parts[0]
        if key == "format":
            if len(parts) < 2 or parts[1] not in ENCODINGS:
                raise src.error(f"unknown PLY format line {raw.strip()!r}")
            encoding = parts[1]
        elif key == "element":
            if len(parts) != 3 or not parts[2].isdigit():
                raise src.error(f"bad PLY element line {raw.strip()!r}")
            check_count(src, parts[1], int(parts[2]))
            elements.append(PlyElement(parts[1], int(parts[2]), []))
        elif key == "property":
            if not elements:
                raise src.error(f"PLY property before any element: {raw.strip()!r}")
            elements[-1].properties.append(_parse_property(src, parts, raw))
        else:
            raise src.error(f"unexpected PLY header line {raw.strip()!r}")
    if encoding is None:
        raise src.error("PLY header has no 'format' line")
    return PlyHeader(encoding, elements, body_offset)


def _parse_property(src: Source, parts: list[str], raw: str) -> PlyProperty:
    if len(parts) == 3 and parts[1] in PLY_TYPES:
        return PlyProperty(parts[2], PLY_TYPES[parts[1]])
    if len(parts) == 5 and parts[1] == "list" and parts[2] in PLY_TYPES and parts[3] in PLY_TYPES:
        return PlyProperty(parts[4], PLY_TYPES[parts[3]], PLY_TYPES[parts[2]])
    raise src.error(f"bad PLY property line {raw.strip()!r}")


def read_vertex_table(src: Source, data: bytes, header: PlyHeader) -> np.ndarray:
    """The vertex element as a structured array (native field dtypes as in the file)."""
    vertex = header.element("vertex")
    if vertex is None:
        raise src.error("PLY file has no 'vertex' element")
    if not vertex.fixed_size:
        raise src.error("PLY vertex element has list properties; only scalar properties are read")
    before = header.elements[: header.elements.index(vertex)]
    if header.encoding == "ascii":
        return _read_ascii_vertices(src, data, header.body_offset, vertex, sum(e.count for e in before))
    order = ENCODINGS[header.encoding]
    offset = header.body_offset
    for e in before:
        if not e.fixed_size:
            raise src.error(f"PLY element {e.name!r} with list properties precedes the vertices")
        offset += e.count * e.dtype(order).itemsize
    dt = vertex.dtype(order)
    need = vertex.count * dt.itemsize
    have = len(data) - offset
    if have < need:
        raise src.error(
            f"PLY header says {vertex.count} vertices ({need} bytes), "
            f"file holds {max(have, 0) // max(dt.itemsize, 1)} ({max(have, 0)} bytes)"
        )
    return np.frombuffer(data, dtype=dt, count=vertex.count, offset=offset)


def _read_ascii_vertices(
    src: Source, data: bytes, offset: int, vertex: PlyElement, skip: int
) -> np.ndarray:
    """ASCII vertices: one element per line; ``skip`` lines of earlier elements come first."""
    table = np.empty(vertex.count, dtype=vertex.dtype("<"))
    if vertex.count == 0:
        return table
    ncol = len(vertex.properties)
    try:
        with warnings.catch_warnings():  # "input contained no data" is our error to raise
            warnings.simplefilter("ignore", UserWarning)
            values = np.loadtxt(
                io.BytesIO(data[offset:]),
                dtype=np.float64,
                comments=None,
                skiprows=skip,
                max_rows=vertex.count,
                ndmin=2,
            )
    except ValueError as e:
        problem = text_table_problem(e, "vertex line")
        raise src.error(f"PLY vertex lines are not {ncol} numeric values each: {problem}") from None
    if len(values) < vertex.count:
        raise src.error(f"PLY header says {vertex.count} vertices, file holds {len(values)}")
    if values.shape[1] != ncol:
        raise src.error(f"PLY vertex lines hold {values.shape[1]} values, header says {ncol}")
    with np.errstate(over="ignore", invalid="ignore"):  # out-of-range text becomes inf: validate says so
        for i, p in enumerate(vertex.properties):
            table[p.name] = values[:, i]
    return table


def _columns(table: np.ndarray, names: tuple[str, str, str]) -> np.ndarray | None:
    fields = table.dtype.names or ()
    if all(n in fields for n in names):
        return np.stack([table[n] for n in names], axis=1)
    return None


def read_ply_points(src: Source, **_: object) -> PointCloud:
    """Read a PLY's vertices as a point cloud: xyz (metres), colour (uint8/uint16/float), normals."""
    data = src.data()
    header = parse_header(src, data)
    table = read_vertex_table(src, data, header)
    xyz = _columns(table, ("x", "y", "z"))
    if xyz is None:
        raise src.error("PLY vertex element lacks x, y, z properties")
    rgb = None
    for names in COLOR_NAMES:
        cols = _columns(table, names)
        if cols is not None:
            rgb = colors_to_unit(cols if cols.dtype.kind == "u" else cols.astype(np.float64))
            break
    normals = None
    for names in NORMAL_NAMES:
        cols = _columns(table, names)
        if cols is not None:
            normals = cols.astype(np.float32)
            break
    meta = {"format": "ply", "encoding": header.encoding, "faces_in_file": header.face_count}
    return PointCloud(xyz=xyz.astype(np.float64), rgb=rgb, normals=normals, meta=meta)


def read_ply_mesh(src: Source, **options: object):
    """Read a PLY with faces as a mesh through trimesh (vertex/face colours kept)."""
    from voxforge.io.meshes import read_trimesh_mesh

    data = src.data()
    header = parse_header(src, data)
    if header.face_count == 0:
        raise GeometryError(f"{src.name}: PLY has no faces (it is a point cloud; use load_points)")
    read_vertex_table(src, data, header)  # size/shape checks with our own messages first
    return read_trimesh_mesh(src, "ply", **options)


def ply_has_faces(src: Source) -> bool:
    """True when the header declares a non-empty face element (so the file is a mesh)."""
    return parse_header(src, src.data()).face_count > 0


def encode_ply(cloud: PointCloud, *, ascii: bool = False, double: bool | None = None) -> bytes:
    """Serialise a cloud as PLY bytes.

    xyz are written as float32 unless ``double`` is set or the coordinates are large (> 1 km from
    the origin, where float32 steps exceed 0.1 mm, e.g. UTM scans); colours as uint8 red/green/blue,
    normals as float32 nx/ny/nz.
    """
    xyz = np.asarray(cloud.xyz, dtype=np.float64)
    if double is None:
        double = bool(xyz.size) and float(np.abs(xyz[np.isfinite(xyz)]).max(initial=0.0)) > 1000.0
    fields: list[tuple[str, str]] = [(a, "f8" if double else "f4") for a in "xyz"]
    if cloud.rgb is not None:
        fields += [(c, "u1") for c in ("red", "green", "blue")]
    if cloud.normals is not None:
        fields += [(c, "f4") for c in ("nx", "ny", "nz")]
    order = "" if ascii else "<"
    table = np.empty(len(xyz), dtype=[(n, order + t) for n, t in fields])
    for i, a in enumerate("xyz"):
        table[a] = xyz[:, i]
    if cloud.rgb is not None:
        rgb8 = np.round(np.clip(cloud.rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
        for i, c in enumerate(("red", "green", "blue")):
            table[c] = rgb8[:, i]
    if cloud.normals is not None:
        for i, c in enumerate(("nx", "ny", "nz")):
            table[c] = cloud.normals[:, i]
    encoding = "ascii" if ascii else "binary_little_endian"
    lines = [
        "ply",
        f"format {encoding} 1.0",
        "comment written by voxforge",
        f"element vertex {len(xyz)}",
    ]
    lines += [f"property {PLY_NAMES[t]} {n}" for n, t in fields]
    lines.append("end_header")
    head = ("\n".join(lines) + "\n").encode("ascii")
    if not ascii:
        return head + table.tobytes()
    buf = io.StringIO()
    fmt = " ".join("%.17g" if t.startswith("f") else "%d" for _, t in fields)
    np.savetxt(buf, _as_columns(table), fmt=fmt)
    return head + buf.getvalue().encode("ascii")


def _as_columns(table: np.ndarray) -> np.ndarray:
    names = table.dtype.names or ()
    return np.stack([table[n].astype(np.float64) for n in names], axis=1)


def write_ply_points(cloud: PointCloud, path: str | os.PathLike[str], **options: object) -> None:
    """Write ``cloud`` to ``path`` as PLY (binary little-endian unless ``ascii=True``), atomically."""
    atomic_write_bytes(path, encode_ply(cloud, **options))  # type: ignore[arg-type]


FORMATS = (
    FormatSpec(
        name="ply",
        kinds=("points", "mesh"),
        extensions=(".ply",),
        description="Stanford PLY, ascii or binary; faces make it a mesh, otherwise a point cloud",
        readers={"points": read_ply_points, "mesh": read_ply_mesh},
        writer=write_ply_points,
        sniff=sniff_ply,
    ),
)
