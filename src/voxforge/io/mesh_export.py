"""Mesh exporters: one call writes a core :class:`~voxforge.core.Mesh` in the format the user's next
program reads, with its colours and a PBR material where the format has them.

:func:`export_mesh` picks the format from the suffix (or ``format=``) and writes atomically (a
temporary file beside the target, then a rename; an OBJ's MTL and texture move with it). Each format
follows its own conventions, so that other programs see the mesh upright and at its real size:

* OBJ+MTL: Y-up, ``units`` (a ``# units: mm`` comment); vertex colours (``v x y z r g b``), one
  MTL material per face colour or the PBR material (``Pr``/``Pm``), UVs and the texture.
* STL: Z-up, ``units`` (millimetres by default, named in the 80-byte header); binary geometry.
* PLY: Z-up, ``units`` (a ``comment units: mm`` line); binary, vertex colours (uchar RGBA).
* GLB/glTF: Y-up, metres (the spec); PBR metallic-roughness material, ``COLOR_0`` (linear), one
  material per face colour, UVs and the texture.
* 3MF: Z-up, ``units`` (in the file); a base material per face colour, or a per-vertex colour group.
* USD/USDA/USDC: Y-up, ``units`` as ``metersPerUnit``; ``UsdPreviewSurface`` materials,
  ``displayColor``, a texture (PNG beside the layer).
* USDZ: as USD, packaged for AR Quick Look (the usdc root layer first, then the texture;
  64-byte aligned, uncompressed).
* FBX: Y-up, centimetres (in the file); materials and vertex colours, written by Blender (or
  assimp) run headless from a GLB.
* OFF: Z-up, ``units`` (a ``# units: mm`` comment); RGBA per face when coloured (ModelNet's format).

Vertex normals the mesh carries (trimesh's ``vertex_normals`` when set or cached, such as a LOD
level's normals transferred from level 0) go out as glTF ``NORMAL``, OBJ ``vn``, PLY
``nx ny nz`` and USD ``normals``; without them glTF gets area-weighted smooth normals and the
others none.

Colours in core meshes are sRGB; glTF, USD and FBX colours are linear light by their specs and are
converted. A mesh with more than :data:`MAX_FACE_MATERIALS` distinct face colours is written with
vertex colours instead of a material per colour. Bad input (no faces, NaN vertices, an unknown
format) raises one :class:`~voxforge.core.errors.VoxforgeError` line and writes nothing.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import trimesh
from pydantic import BaseModel, ConfigDict, Field, field_validator

from voxforge.core.color import srgb_to_linear
from voxforge.core.errors import ConfigError, GeometryError, UnsupportedInputError
from voxforge.core.mesh import Mesh
from voxforge.io._base import UNIT_SCALES, Y_UP_TO_Z_UP, normalize_units, unit_tag

MAX_FACE_MATERIALS = 256
"""Above this many distinct face colours, colours go out as vertex colours, not materials."""
TOOL_TIMEOUT_S = 300.0
"""Longest a headless Blender or assimp run may take for one FBX."""
GENERATOR = "voxforge"


class PbrMaterial(BaseModel):
    """A metallic-roughness PBR material (the glTF/UsdPreviewSurface model).

    ``base_color`` is sRGB in [0, 1]; it tints vertex/face colours where the format multiplies them
    (glTF), and colours the mesh where it has none.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "voxforge"
    base_color: tuple[float, float, float] = (0.8, 0.8, 0.8)
    metallic: float = Field(0.0, ge=0.0, le=1.0)
    roughness: float = Field(0.5, ge=0.0, le=1.0)
    opacity: float = Field(1.0, ge=0.0, le=1.0)

    @field_validator("base_color")
    @classmethod
    def _unit_rgb(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if not all(0.0 <= c <= 1.0 for c in v):
            raise ValueError("base colour channels must lie in [0, 1]")
        return v

    @classmethod
    def parse_color(cls, text: str, **values: Any) -> PbrMaterial:
        """A material from ``#RRGGBB``, ``RRGGBB`` or ``r,g,b`` (floats in [0, 1] or 0..255 ints)."""
        return cls(base_color=parse_rgb(text), **values)


def parse_rgb(text: str) -> tuple[float, float, float]:
    """``#RRGGBB`` / ``RRGGBB`` / ``r,g,b`` -> sRGB floats in [0, 1] (ConfigError otherwise)."""
    s = text.strip().lstrip("#")
    try:
        if "," in s:
            vals = [float(x) for x in s.split(",")]
            if len(vals) != 3:
                raise ValueError
            if any(v > 1.0 for v in vals):
                vals = [v / 255.0 for v in vals]
        elif len(s) == 6:
            vals = [int(s[i : i + 2], 16) / 255.0 for i in (0, 2, 4)]
        else:
            raise ValueError
    except ValueError:
        raise ConfigError(f"colour {text!r} is not #RRGGBB or r,g,b") from None
    if not all(0.0 <= v <= 1.0 for v in vals):
        raise ConfigError(f"colour {text!r} has channels outside 0..255")
    return (vals[0], vals[1], vals[2])


# --- the mesh as the writers see it ----------------------------------------------------------


@dataclass
class _Prepared:
    """Geometry in the output frame and units, with colours in one of three shapes."""

    vertices: np.ndarray  # (n, 3) float64, output frame and units
    faces: np.ndarray  # (m, 3) int64
    vertex_rgba: np.ndarray | None = None  # (n, 4) uint8 sRGB
    face_rgba: np.ndarray | None = None  # (m, 4) uint8 sRGB, <= MAX_FACE_MATERIALS distinct
    uv: np.ndarray | None = None  # (n, 2) float64
    image: Any = None  # PIL image of a textured mesh
    notes: list[str] = field(default_factory=list)
    normals: np.ndarray | None = None  # (n, 3) float64 unit vertex normals the mesh carries
    normal_image: Any = None  # PIL image: a tangent-space normal map at ``uv`` (baked LOD)

    def face_groups(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(rgba (4,) uint8, face indices)]`` per distinct face colour, in first-seen order."""
        assert self.face_rgba is not None
        keys = self.face_rgba.view(np.uint32).ravel()
        _, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        order = np.argsort(first)
        return [(self.face_rgba[first[k]], np.flatnonzero(inv == k)) for k in order]

    def with_vertex_colors(self) -> _Prepared:
        """Face colours turned into vertex colours (vertices split where colours meet)."""
        if self.face_rgba is None:
            return self
        keys = self.face_rgba.view(np.uint32).ravel()
        pair = self.faces.astype(np.int64) * (1 << 32) + keys[:, None].astype(np.int64)
        uniq, inv = np.unique(pair.ravel(), return_inverse=True)
        verts = self.vertices[uniq >> 32]
        rgba = (uniq & 0xFFFFFFFF).astype(np.uint32).view(np.uint8).reshape(-1, 4)
        normals = None if self.normals is None else self.normals[uniq >> 32]
        return _Prepared(
            verts, inv.reshape(-1, 3), vertex_rgba=rgba.copy(), notes=self.notes, normals=normals
        )


def _check(mesh: Mesh | trimesh.Trimesh, name: str) -> trimesh.Trimesh:
    tm = mesh.tm if isinstance(mesh, Mesh) else mesh
    if not isinstance(tm, trimesh.Trimesh):
        raise GeometryError(f"{name}: expected a triangle mesh, got {type(tm).__name__}")
    if len(tm.faces) == 0:
        raise GeometryError(f"{name}: the mesh has no faces; nothing to export")
    v = np.asarray(tm.vertices)
    if not np.isfinite(v).all():
        raise GeometryError(f"{name}: the mesh has NaN/inf vertex coordinates; repair it first")
    f = np.asarray(tm.faces)
    if f.min() < 0 or f.max() >= len(v):
        raise GeometryError(f"{name}: faces index vertices that do not exist")
    return tm


def _prepare(tm: trimesh.Trimesh, *, up: str, scale: float, keep_texture: bool) -> _Prepared:
    """Vertices rotated to ``up`` ('y' or 'z') and multiplied by ``scale``; colours sorted out;
    the vertex normals the mesh carries (trimesh's ``vertex_normals`` when set or cached, as
    trimesh's own writers decide) rotated with the vertices."""
    v = np.asarray(tm.vertices, dtype=np.float64)
    normals = None
    if "vertex_normals" in tm._cache.cache:
        n = np.asarray(tm.vertex_normals, dtype=np.float64)
        if n.shape == v.shape and np.isfinite(n).all():
            length = np.linalg.norm(n, axis=1, keepdims=True)
            normals = np.divide(n, length, out=np.zeros_like(n), where=length > 0)
            normals[length[:, 0] == 0] = (0.0, 0.0, 1.0)
    if up == "y":
        v = v @ Y_UP_TO_Z_UP[:3, :3]  # the inverse rotation: z-up -> y-up
        normals = None if normals is None else normals @ Y_UP_TO_Z_UP[:3, :3]
    p = _Prepared(v * scale, np.asarray(tm.faces, dtype=np.int64), normals=normals)
    visual = tm.visual
    kind = getattr(visual, "kind", None)
    if kind == "texture":
        uv = getattr(visual, "uv", None)
        image = getattr(getattr(visual, "material", None), "image", None)
        if image is None:
            image = getattr(getattr(visual, "material", None), "baseColorTexture", None)
        bump = getattr(getattr(visual, "material", None), "normalTexture", None)
        if keep_texture and uv is not None and len(uv) == len(v) and normals is not None:
            p.normal_image = bump  # a normal map is read in the frame of the shipped normals
        if keep_texture and uv is not None and image is not None and len(uv) == len(v):
            p.uv, p.image = np.asarray(uv, dtype=np.float64), image
            return p
        if p.normal_image is not None:  # a normal-mapped mesh without a colour texture
            p.uv = np.asarray(uv, dtype=np.float64)
            return p
        try:
            p.vertex_rgba = np.asarray(visual.to_color().vertex_colors, dtype=np.uint8)
            p.notes.append("texture sampled to vertex colours")
        except Exception:  # a material without an image: no colours
            p.notes.append("texture dropped (no image)")
    elif kind == "face":
        rgba = np.ascontiguousarray(visual.face_colors, dtype=np.uint8)
        p.face_rgba = rgba
        if len(np.unique(rgba.view(np.uint32))) > MAX_FACE_MATERIALS:
            p = p.with_vertex_colors()
    elif kind == "vertex":
        p.vertex_rgba = np.ascontiguousarray(visual.vertex_colors, dtype=np.uint8)
    return p


def _linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 or [0, 1] floats -> linear floats."""
    a = np.asarray(rgb, dtype=np.float64)
    if np.asarray(rgb).dtype == np.uint8:
        a = a / 255.0
    return srgb_to_linear(a, np.float64)


# --- atomic writing --------------------------------------------------------------------------


class _AtomicFiles:
    """Files written into a temporary folder beside the target, moved into place together."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))

    def path(self, name: str) -> Path:
        return self.tmp / name

    def commit(self) -> None:
        for item in sorted(self.tmp.iterdir(), key=lambda q: q.name == self.target.name):
            os.replace(item, self.target.parent / item.name)  # the main file last

    def cleanup(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


# --- OBJ + MTL -------------------------------------------------------------------------------


def _fmt_rows(fmt: str, rows: np.ndarray) -> str:
    if not len(rows):
        return ""
    return (fmt * len(rows)) % tuple(rows.ravel().tolist())


def _mtl_entry(
    name: str,
    rgb: tuple[float, ...],
    mat: PbrMaterial,
    texture: str | None = None,
    normal_map: str | None = None,
) -> str:
    lines = [
        f"newmtl {name}",
        "Ka 0 0 0",
        "Kd {:.6f} {:.6f} {:.6f}".format(*rgb[:3]),
        "Ks 0.04 0.04 0.04",
        f"d {mat.opacity:.6f}",
        "illum 2",
        f"Pr {mat.roughness:.6f}",
        f"Pm {mat.metallic:.6f}",
    ]
    if texture:
        lines.append(f"map_Kd {texture}")
    if normal_map:  # the PBR extension's key, and the one Blender's importer reads as normals
        lines += [f"norm {normal_map}", f"map_Bump {normal_map}"]
    return "\n".join(lines) + "\n\n"


def _save_png(image: Any, path: Path) -> None:
    image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB").save(path, format="PNG")


def _write_obj(p: _Prepared, dest: Path, mat: PbrMaterial, unit: str = "m") -> None:
    stem = dest.stem
    mtl_name, tex_name, normal_name = f"{stem}.mtl", f"{stem}_texture.png", f"{stem}_normal.png"
    obj = [f"# {GENERATOR}\n", f"# {unit_tag(unit)}\n", f"mtllib {mtl_name}\n"]
    mtl = [f"# {GENERATOR}\n\n"]
    groups = None
    if p.face_rgba is not None:
        # a material per colour for DCC programs, and the same colours on the vertices for
        # readers that merge an OBJ's materials (trimesh); the face order is kept
        groups = p.face_groups()
        p = p.with_vertex_colors()
    if p.vertex_rgba is not None:
        rows = np.hstack([p.vertices, p.vertex_rgba[:, :3] / 255.0])
        obj.append(_fmt_rows("v %.7g %.7g %.7g %.4f %.4f %.4f\n", rows))
    else:
        obj.append(_fmt_rows("v %.7g %.7g %.7g\n", p.vertices))
    if p.normals is not None:  # vn k pairs with v k
        obj.append(_fmt_rows("vn %.6f %.6f %.6f\n", p.normals))
    faces = p.faces + 1
    corner = "%d//%d" if p.normals is not None else "%d"
    if p.uv is not None:
        obj.append(_fmt_rows("vt %.7g %.7g\n", p.uv))
        if p.image is not None:
            _save_png(p.image, dest.with_name(tex_name))
        if p.normal_image is not None:
            _save_png(p.normal_image, dest.with_name(normal_name))
        textured = p.image is not None
        mtl.append(
            _mtl_entry(
                "material0",
                (1.0, 1.0, 1.0) if textured else mat.base_color,
                mat,
                tex_name if textured else None,
                normal_name if p.normal_image is not None else None,
            )
        )
        obj.append("usemtl material0\n")
        k = 3 if p.normals is not None else 2
        corner_uv = "%d/%d/%d" if p.normals is not None else "%d/%d"
        obj.append(_fmt_rows(f"f {corner_uv} {corner_uv} {corner_uv}\n", np.repeat(faces, k, axis=1)))
    else:
        k = 2 if p.normals is not None else 1
        row = f"f {corner} {corner} {corner}\n"
        if groups is not None:
            for i, (rgba, idx) in enumerate(groups):
                name = f"color{i}_{bytes(rgba[:3]).hex()}"
                mtl.append(_mtl_entry(name, tuple(rgba[:3] / 255.0), mat))
                obj.append(f"usemtl {name}\n")
                obj.append(_fmt_rows(row, np.repeat(faces[idx], k, axis=1)))
        else:
            rgb = (1.0, 1.0, 1.0) if p.vertex_rgba is not None else mat.base_color
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", mat.name) or "material0"
            mtl.append(_mtl_entry(name, rgb, mat))
            obj.append(f"usemtl {name}\n")
            obj.append(_fmt_rows(row, np.repeat(faces, k, axis=1)))
    dest.with_name(mtl_name).write_text("".join(mtl))
    dest.write_text("".join(obj))


# --- STL, PLY --------------------------------------------------------------------------------


def _write_stl(p: _Prepared, dest: Path, mat: PbrMaterial, unit: str = "mm") -> None:
    tri = p.vertices[p.faces].astype(np.float32)  # (m, 3, 3)
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
    rec = np.zeros(len(tri), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rec["n"], rec["v"] = normals, tri
    header = f"{GENERATOR} binary STL, {unit_tag(unit)}".encode().ljust(80, b" ")
    with open(dest, "wb") as fh:
        fh.write(header + struct.pack("<I", len(tri)))
        fh.write(rec.tobytes())


def _write_ply(p: _Prepared, dest: Path, mat: PbrMaterial, unit: str = "m") -> None:
    p = p.with_vertex_colors()
    n, m = len(p.vertices), len(p.faces)
    header = ["ply", "format binary_little_endian 1.0", f"comment {GENERATOR}"]
    header.append(f"comment {unit_tag(unit)}")
    header += [f"element vertex {n}", "property float x", "property float y", "property float z"]
    vfields = [("xyz", "<f4", 3)]
    if p.normals is not None:
        header += ["property float nx", "property float ny", "property float nz"]
        vfields.append(("n", "<f4", 3))
    if p.vertex_rgba is not None:
        header += [f"property uchar {c}" for c in ("red", "green", "blue", "alpha")]
        vfields.append(("rgba", "u1", 4))
    header += [f"element face {m}", "property list uchar int vertex_indices", "end_header"]
    verts = np.zeros(n, dtype=vfields)
    verts["xyz"] = p.vertices
    if p.normals is not None:
        verts["n"] = p.normals
    if p.vertex_rgba is not None:
        verts["rgba"] = p.vertex_rgba
    faces = np.zeros(m, dtype=[("k", "u1"), ("v", "<i4", 3)])
    faces["k"], faces["v"] = 3, p.faces
    with open(dest, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode("ascii"))
        fh.write(verts.tobytes())
        fh.write(faces.tobytes())


def _write_off(p: _Prepared, dest: Path, mat: PbrMaterial, unit: str = "m") -> None:
    """Object File Format (ModelNet's): vertices and triangles, with RGBA per face when coloured."""
    if p.vertex_rgba is not None and p.face_rgba is None:
        corners = p.vertex_rgba[p.faces].astype(np.float64)
        p = _Prepared(p.vertices, p.faces, face_rgba=np.rint(corners.mean(axis=1)).astype(np.uint8))
    out = [f"OFF\n# {GENERATOR}\n# {unit_tag(unit)}\n{len(p.vertices)} {len(p.faces)} 0\n"]
    out.append(_fmt_rows("%.7g %.7g %.7g\n", p.vertices))
    if p.face_rgba is not None:
        out.append(_fmt_rows("3 %d %d %d %d %d %d %d\n", np.hstack([p.faces, p.face_rgba])))
    else:
        out.append(_fmt_rows("3 %d %d %d\n", p.faces))
    dest.write_text("".join(out))


# --- glTF 2.0 (GLB and .gltf) ----------------------------------------------------------------


class _GltfBuilder:
    """Accessors, buffer views and materials of one glTF asset in a single buffer."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.doc: dict[str, Any] = {
            "asset": {"version": "2.0", "generator": GENERATOR},
            "scene": 0,
            "scenes": [{"nodes": [0]}],
            "nodes": [{"mesh": 0, "name": "mesh"}],
            "meshes": [],
            "materials": [],
            "accessors": [],
            "bufferViews": [],
            "buffers": [],
        }

    def view(self, data: bytes, target: int | None = None) -> int:
        while len(self.blob) % 4:
            self.blob.append(0)
        bv: dict[str, Any] = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(data)}
        if target is not None:
            bv["target"] = target
        self.blob += data
        self.doc["bufferViews"].append(bv)
        return len(self.doc["bufferViews"]) - 1

    def accessor(
        self,
        array: np.ndarray,
        kind: str,
        *,
        target: int,
        normalized: bool = False,
        bounds: bool = False,
    ) -> int:
        ctype = {
            np.dtype("float32"): 5126,
            np.dtype("uint32"): 5125,
            np.dtype("uint16"): 5123,
            np.dtype("uint8"): 5121,
        }[array.dtype]
        acc: dict[str, Any] = {
            "bufferView": self.view(np.ascontiguousarray(array).tobytes(), target),
            "componentType": ctype,
            "count": int(len(array) if kind != "SCALAR" else array.size),
            "type": kind,
        }
        if normalized:
            acc["normalized"] = True
        if bounds:
            acc["min"] = np.asarray(array).min(axis=0).astype(float).tolist()
            acc["max"] = np.asarray(array).max(axis=0).astype(float).tolist()
        self.doc["accessors"].append(acc)
        return len(self.doc["accessors"]) - 1

    def material(
        self,
        mat: PbrMaterial,
        rgb: np.ndarray | None = None,
        texture: int | None = None,
        normal_texture: int | None = None,
    ) -> int:
        lin = _linear(np.asarray(mat.base_color if rgb is None else rgb))
        pbr: dict[str, Any] = {
            "baseColorFactor": [*np.round(lin, 6).tolist(), float(mat.opacity)],
            "metallicFactor": float(mat.metallic),
            "roughnessFactor": float(mat.roughness),
        }
        if texture is not None:
            pbr["baseColorTexture"] = {"index": texture}
        m: dict[str, Any] = {"name": mat.name, "pbrMetallicRoughness": pbr}
        if normal_texture is not None:
            m["normalTexture"] = {"index": normal_texture}
        if mat.opacity < 1.0:
            m["alphaMode"] = "BLEND"
        self.doc["materials"].append(m)
        return len(self.doc["materials"]) - 1

    def texture(self, image: Any) -> int:
        buf = io.BytesIO()
        image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB").save(buf, format="PNG")
        self.doc.setdefault("images", []).append(
            {"bufferView": self.view(buf.getvalue()), "mimeType": "image/png"}
        )
        if not self.doc.get("samplers"):
            self.doc["samplers"] = [{"magFilter": 9729, "minFilter": 9987}]
        self.doc.setdefault("textures", []).append({"source": len(self.doc["images"]) - 1, "sampler": 0})
        return len(self.doc["textures"]) - 1

    def finish(self) -> tuple[dict[str, Any], bytes]:
        while len(self.blob) % 4:
            self.blob.append(0)
        self.doc["buffers"] = [{"byteLength": len(self.blob)}]
        return self.doc, bytes(self.blob)


def _smooth_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    tri = v[f]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    vn = np.zeros_like(v)
    for k in range(3):
        np.add.at(vn, f[:, k], fn)
    length = np.linalg.norm(vn, axis=1, keepdims=True)
    vn = np.divide(vn, length, out=np.zeros_like(vn), where=length > 0)
    vn[length[:, 0] == 0] = (0.0, 0.0, 1.0)  # unreferenced or degenerate: any unit vector
    return vn.astype(np.float32)


def _unit32(n: np.ndarray) -> np.ndarray:
    """Unit vectors as float32, renormalized after the cast (glTF asks for unit length)."""
    out = np.asarray(n, dtype=np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _gltf_asset(p: _Prepared, mat: PbrMaterial) -> tuple[dict[str, Any], bytes]:
    """The glTF document and its binary buffer (positions in metres, Y-up)."""
    g = _GltfBuilder()
    used = np.zeros(len(p.vertices), dtype=bool)
    used[p.faces.ravel()] = True
    if not used.all():  # glTF accessors should not carry unreferenced vertices
        remap = np.cumsum(used) - 1
        p = _Prepared(
            p.vertices[used],
            remap[p.faces],
            None if p.vertex_rgba is None else p.vertex_rgba[used],
            p.face_rgba,
            None if p.uv is None else p.uv[used],
            p.image,
            p.notes,
            None if p.normals is None else p.normals[used],
            p.normal_image,
        )
    pos = p.vertices.astype(np.float32)
    normals = _smooth_normals(p.vertices, p.faces) if p.normals is None else _unit32(p.normals)
    attrs = {
        "POSITION": g.accessor(pos, "VEC3", target=34962, bounds=True),
        "NORMAL": g.accessor(normals, "VEC3", target=34962),
    }
    if p.vertex_rgba is not None:
        rgb = _linear(p.vertex_rgba[:, :3])
        rgba = np.hstack([rgb, p.vertex_rgba[:, 3:4] / 255.0])
        attrs["COLOR_0"] = g.accessor(  # 16-bit: 8-bit linear loses the dark sRGB steps
            np.rint(rgba * 65535.0).astype(np.uint16), "VEC4", target=34962, normalized=True
        )
    prims = []
    bump = None
    if p.uv is not None:
        uv = p.uv.astype(np.float32).copy()
        uv[:, 1] = 1.0 - uv[:, 1]  # glTF's UV origin is the image's top left
        attrs["TEXCOORD_0"] = g.accessor(uv, "VEC2", target=34962)
        if p.normal_image is not None:  # the tangent frame the map was baked in
            from voxforge.core.tangents import vertex_tangents

            tangents = vertex_tangents(p.vertices, p.faces, uv.astype(np.float64), normals)
            attrs["TANGENT"] = g.accessor(tangents.astype(np.float32), "VEC4", target=34962)
            bump = g.texture(p.normal_image)
    if p.uv is not None and p.image is not None:
        tex = g.texture(p.image)
        prims.append((p.faces, g.material(mat, np.ones(3), tex, bump)))
    elif p.face_rgba is not None:
        for i, (rgba, idx) in enumerate(p.face_groups()):
            named = mat.model_copy(update={"name": f"color{i}_{bytes(rgba[:3]).hex()}"})
            prims.append((p.faces[idx], g.material(named, rgba[:3])))
    else:
        white = np.ones(3) if p.vertex_rgba is not None and mat.base_color == (0.8, 0.8, 0.8) else None
        prims.append((p.faces, g.material(mat, white, normal_texture=bump)))
    primitives = []
    for faces, material in prims:
        indices = g.accessor(faces.astype(np.uint32).ravel(), "SCALAR", target=34963)
        primitives.append({"attributes": attrs, "indices": indices, "material": material, "mode": 4})
    g.doc["meshes"].append({"name": "mesh", "primitives": primitives})
    return g.finish()


def _write_glb(p: _Prepared, dest: Path, mat: PbrMaterial) -> None:
    doc, blob = _gltf_asset(p, mat)
    text = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    with open(dest, "wb") as fh:
        fh.write(struct.pack("<4sII", b"glTF", 2, total))
        fh.write(struct.pack("<I4s", len(text), b"JSON") + text)
        fh.write(struct.pack("<I4s", len(blob), b"BIN\x00") + blob)


def _write_gltf(p: _Prepared, dest: Path, mat: PbrMaterial) -> None:
    doc, blob = _gltf_asset(p, mat)
    doc["buffers"][0]["uri"] = "data:application/octet-stream;base64," + base64.b64encode(blob).decode()
    dest.write_text(json.dumps(doc, separators=(",", ":")))


# --- 3MF -------------------------------------------------------------------------------------

THREEMF_UNIT_NAMES = {
    "um": "micron",
    "mm": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "in": "inch",
    "ft": "foot",
}
_NS_CORE = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
_NS_MATERIAL = "http://schemas.microsoft.com/3dmanufacturing/material/2015/02"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Target="/3D/3dmodel.model" Id="rel0" '
    'Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>'
)


def _hex(rgba: np.ndarray) -> list[str]:
    return ["#" + bytes(c).hex().upper() for c in np.asarray(rgba, dtype=np.uint8)]


def _write_3mf(p: _Prepared, dest: Path, mat: PbrMaterial, unit: str) -> None:
    f = p.faces
    keep = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    if not keep.all():  # the 3MF core spec forbids triangles that repeat a vertex
        p = _Prepared(
            p.vertices, f[keep], p.vertex_rgba, None if p.face_rgba is None else p.face_rgba[keep]
        )
        p.notes.append(f"{int((~keep).sum())} degenerate triangles left out (3MF forbids them)")
        if not len(p.faces):
            raise GeometryError(f"{dest.name}: every triangle is degenerate; nothing to write")
    res, tri_attr = [], None
    if p.face_rgba is not None:
        groups = p.face_groups()
        names = [f"color{i}" for i in range(len(groups))]
        bases = "".join(
            f'<base name="{n}" displaycolor="{h}"/>'
            for n, h in zip(names, _hex([g[0] for g in groups]), strict=True)
        )
        res.append(f'<basematerials id="1">{bases}</basematerials>')
        index = np.zeros(len(p.faces), dtype=np.int64)
        for k, (_, idx) in enumerate(groups):
            index[idx] = k
        tri_attr = ("pid1", index)
    elif p.vertex_rgba is not None:
        colors = "".join(f'<m:color color="{h}"/>' for h in _hex(p.vertex_rgba))
        res.append(f'<m:colorgroup id="1">{colors}</m:colorgroup>')
        tri_attr = ("vertex", None)
    else:
        rgba = np.array(
            [*np.rint(np.asarray(mat.base_color) * 255), round(mat.opacity * 255)], dtype=np.uint8
        )
        res.append(
            f'<basematerials id="1"><base name={quoteattr(mat.name)} '
            f'displaycolor="{_hex([rgba])[0]}"/></basematerials>'
        )
    verts = _fmt_rows('<vertex x="%.7g" y="%.7g" z="%.7g"/>', p.vertices)
    if tri_attr is not None and tri_attr[0] == "pid1":
        rows = np.hstack([p.faces, tri_attr[1][:, None]])
        tris = _fmt_rows('<triangle v1="%d" v2="%d" v3="%d" p1="%d"/>', rows)
    elif tri_attr is not None:
        tris = _fmt_rows(
            '<triangle v1="%d" v2="%d" v3="%d" p1="%d" p2="%d" p3="%d"/>', np.hstack([p.faces, p.faces])
        )
    else:
        tris = _fmt_rows('<triangle v1="%d" v2="%d" v3="%d"/>', p.faces)
    model = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<model unit="{THREEMF_UNIT_NAMES[unit]}" xml:lang="en-US" '
        f'xmlns="{_NS_CORE}" xmlns:m="{_NS_MATERIAL}">'
        f'<metadata name="Application">{GENERATOR}</metadata>'
        f"<resources>{''.join(res)}"
        f'<object id="2" type="model" pid="1" pindex="0"><mesh><vertices>{verts}</vertices>'
        f"<triangles>{tris}</triangles></mesh></object></resources>"
        '<build><item objectid="2"/></build></model>'
    )
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("3D/3dmodel.model", model)


# --- USD, USDA, USDC, USDZ -------------------------------------------------------------------


def _pxr() -> Any:
    try:
        from pxr import Sdf, Usd, UsdGeom, UsdShade, UsdUtils, Vt
    except ImportError:
        raise UnsupportedInputError(
            "writing USD/USDZ needs the 'usd-core' package (pip install usd-core)"
        ) from None
    return Sdf, Usd, UsdGeom, UsdShade, UsdUtils, Vt


def _usd_material(
    stage: Any,
    path: str,
    mat: PbrMaterial,
    rgb: np.ndarray | None,
    primvar: bool,
    texture: str | None = None,
    normal_map: str | None = None,
) -> Any:
    """A ``UsdPreviewSurface`` material: constant colour, ``displayColor`` through a primvar
    reader, or ``texture`` (a file beside the layer) sampled at the ``st`` primvar; with
    ``normal_map`` (a tangent-space normal map beside the layer) also its ``normal`` input."""
    Sdf, _, _, UsdShade, _, _ = _pxr()
    material = UsdShade.Material.Define(stage, path)
    shader = UsdShade.Shader.Define(stage, f"{path}/PreviewSurface")
    shader.CreateIdAttr("UsdPreviewSurface")
    diffuse = shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f)
    if texture is not None or normal_map is not None:
        st = UsdShade.Shader.Define(stage, f"{path}/TexCoords")
        st.CreateIdAttr("UsdPrimvarReader_float2")
        st.CreateInput("varname", Sdf.ValueTypeNames.String).Set("st")
    if normal_map is not None:
        bump = UsdShade.Shader.Define(stage, f"{path}/Normal")
        bump.CreateIdAttr("UsdUVTexture")
        bump.CreateInput("file", Sdf.ValueTypeNames.Asset).Set(f"./{normal_map}")
        bump.CreateInput("sourceColorSpace", Sdf.ValueTypeNames.Token).Set("raw")
        bump.CreateInput("scale", Sdf.ValueTypeNames.Float4).Set((2.0, 2.0, 2.0, 1.0))
        bump.CreateInput("bias", Sdf.ValueTypeNames.Float4).Set((-1.0, -1.0, -1.0, 0.0))
        bump.CreateInput("st", Sdf.ValueTypeNames.Float2).ConnectToSource(
            st.ConnectableAPI(), "result", UsdShade.AttributeType.Output, Sdf.ValueTypeNames.Float2
        )
        shader.CreateInput("normal", Sdf.ValueTypeNames.Normal3f).ConnectToSource(
            bump.ConnectableAPI(), "rgb", UsdShade.AttributeType.Output, Sdf.ValueTypeNames.Float3
        )
    if texture is not None:
        tex = UsdShade.Shader.Define(stage, f"{path}/BaseColor")
        tex.CreateIdAttr("UsdUVTexture")
        tex.CreateInput("file", Sdf.ValueTypeNames.Asset).Set(f"./{texture}")
        tex.CreateInput("sourceColorSpace", Sdf.ValueTypeNames.Token).Set("sRGB")
        tex.CreateInput("wrapS", Sdf.ValueTypeNames.Token).Set("repeat")
        tex.CreateInput("wrapT", Sdf.ValueTypeNames.Token).Set("repeat")
        tex.CreateInput("st", Sdf.ValueTypeNames.Float2).ConnectToSource(
            st.ConnectableAPI(), "result", UsdShade.AttributeType.Output, Sdf.ValueTypeNames.Float2
        )
        diffuse.ConnectToSource(
            tex.ConnectableAPI(), "rgb", UsdShade.AttributeType.Output, Sdf.ValueTypeNames.Float3
        )
    elif primvar:
        reader = UsdShade.Shader.Define(stage, f"{path}/DisplayColor")
        reader.CreateIdAttr("UsdPrimvarReader_float3")
        reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set("displayColor")
        diffuse.ConnectToSource(
            reader.ConnectableAPI(), "result", UsdShade.AttributeType.Output, Sdf.ValueTypeNames.Float3
        )
    else:
        lin = _linear(np.asarray(mat.base_color if rgb is None else rgb))
        diffuse.Set(tuple(float(c) for c in lin))
    shader.CreateInput("metallic", Sdf.ValueTypeNames.Float).Set(float(mat.metallic))
    shader.CreateInput("roughness", Sdf.ValueTypeNames.Float).Set(float(mat.roughness))
    shader.CreateInput("opacity", Sdf.ValueTypeNames.Float).Set(float(mat.opacity))
    shader.CreateInput("useSpecularWorkflow", Sdf.ValueTypeNames.Int).Set(0)
    material.CreateSurfaceOutput().ConnectToSource(shader.ConnectableAPI(), "surface")
    return material


def _usd_stage(
    p: _Prepared, path: Path, mat: PbrMaterial, meters_per_unit: float, texture_stem: str
) -> None:
    """Author one USD layer at ``path`` (its suffix picks usda or usdc); a texture goes beside it
    as ``<texture_stem>_texture.png``."""
    Sdf, Usd, UsdGeom, UsdShade, _, Vt = _pxr()
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, float(meters_per_unit))
    root = UsdGeom.Xform.Define(stage, "/Root")
    stage.SetDefaultPrim(root.GetPrim())
    Usd.ModelAPI(root.GetPrim()).SetKind("component")
    mesh = UsdGeom.Mesh.Define(stage, "/Root/Mesh")
    pts = p.vertices.astype(np.float32)
    mesh.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(pts))
    mesh.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(len(p.faces), 3, dtype=np.int32)))
    mesh.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(p.faces.astype(np.int32).ravel()))
    mesh.CreateExtentAttr(Vt.Vec3fArray.FromNumpy(np.stack([pts.min(axis=0), pts.max(axis=0)])))
    mesh.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
    mesh.CreateOrientationAttr(UsdGeom.Tokens.rightHanded)
    if p.normals is not None:
        mesh.CreateNormalsAttr(Vt.Vec3fArray.FromNumpy(p.normals.astype(np.float32)))
        mesh.SetNormalsInterpolation(UsdGeom.Tokens.vertex)
    UsdShade.MaterialBindingAPI.Apply(mesh.GetPrim())
    binding = UsdShade.MaterialBindingAPI(mesh.GetPrim())
    if p.uv is not None:
        name = normal = None
        if p.image is not None:
            name = f"{texture_stem}_texture.png"
            _save_png(p.image, path.with_name(name))
        if p.normal_image is not None:
            normal = f"{texture_stem}_normal.png"
            _save_png(p.normal_image, path.with_name(normal))
        st = UsdGeom.PrimvarsAPI(mesh).CreatePrimvar(
            "st", Sdf.ValueTypeNames.TexCoord2fArray, UsdGeom.Tokens.vertex
        )
        st.Set(Vt.Vec2fArray.FromNumpy(p.uv.astype(np.float32)))
        binding.Bind(
            _usd_material(
                stage, "/Root/Materials/Texture", mat, None, False, texture=name, normal_map=normal
            )
        )
    elif p.vertex_rgba is not None:
        dc = mesh.CreateDisplayColorPrimvar(UsdGeom.Tokens.vertex)
        dc.Set(Vt.Vec3fArray.FromNumpy(_linear(p.vertex_rgba[:, :3]).astype(np.float32)))
        binding.Bind(_usd_material(stage, "/Root/Materials/VertexColor", mat, None, primvar=True))
    elif p.face_rgba is not None:
        groups = p.face_groups()
        dc = mesh.CreateDisplayColorPrimvar(UsdGeom.Tokens.uniform)
        dc.Set(Vt.Vec3fArray.FromNumpy(_linear(p.face_rgba[:, :3]).astype(np.float32)))
        for i, (rgba, idx) in enumerate(groups):
            name = f"color{i}_{bytes(rgba[:3]).hex()}"
            subset = UsdGeom.Subset.CreateGeomSubset(
                mesh,
                name,
                UsdGeom.Tokens.face,
                Vt.IntArray.FromNumpy(idx.astype(np.int32)),
                UsdShade.Tokens.materialBind,
                UsdGeom.Tokens.partition,
            )
            UsdShade.MaterialBindingAPI.Apply(subset.GetPrim())
            UsdShade.MaterialBindingAPI(subset.GetPrim()).Bind(
                _usd_material(stage, f"/Root/Materials/{name}", mat, rgba[:3], primvar=False)
            )
    else:
        binding.Bind(_usd_material(stage, "/Root/Materials/Material", mat, None, primvar=False))
    stage.GetRootLayer().documentation = GENERATOR
    stage.Save()


def _write_usd(p: _Prepared, dest: Path, mat: PbrMaterial, mpu: float) -> None:
    suffix = dest.suffix.lower()
    layer = dest.with_name(dest.stem + (".usdc" if suffix in (".usd", ".usdz") else suffix))
    _usd_stage(p, layer, mat, mpu, dest.stem)
    if suffix == ".usdz":
        _, _, _, _, UsdUtils, _ = _pxr()
        staging = dest.with_name("package.usdz")
        if not UsdUtils.CreateNewARKitUsdzPackage(str(layer), str(staging)):
            raise GeometryError(f"{dest.name}: USD could not package the USDZ")
        for used in dest.parent.iterdir():  # the package holds the layer and its texture
            if used != staging:
                used.unlink()
        staging.rename(dest)
    else:
        layer.rename(dest)


# --- FBX (through Blender or assimp) ---------------------------------------------------------

_BLENDER_FBX = (
    "import bpy, sys\n"
    "import numpy\n"
    "if not hasattr(numpy, 'bool'):\n"  # Blender 3.4's glTF importer still names numpy.bool
    "    numpy.bool = bool\n"
    "a = sys.argv[sys.argv.index('--') + 1:]\n"
    "bpy.ops.wm.read_factory_settings(use_empty=True)\n"
    "bpy.ops.import_scene.gltf(filepath=a[0])\n"
    "bpy.ops.export_scene.fbx(filepath=a[1], apply_scale_options='FBX_SCALE_UNITS',"
    " axis_forward='-Z', axis_up='Y', path_mode='COPY', embed_textures=True,"
    " mesh_smooth_type='FACE')\n"
)


def fbx_tool() -> str | None:
    """``'blender'`` or ``'assimp'`` (whichever is installed, Blender first), else None."""
    for tool in ("blender", "assimp"):
        if shutil.which(tool):
            return tool
    return None


def _write_fbx(p: _Prepared, dest: Path, mat: PbrMaterial) -> None:
    tool = fbx_tool()
    if tool is None:
        raise UnsupportedInputError(
            "FBX export needs blender or assimp installed (apt-get install blender assimp-utils)"
        )
    glb = dest.with_name("fbx-source.glb")
    _write_glb(p, glb, mat)
    target = dest
    if tool == "blender":
        cmd = [
            "blender",
            "-b",
            "--factory-startup",
            "-noaudio",
            "--python-exit-code",
            "1",
            "--python-expr",
            _BLENDER_FBX,
            "--",
            str(glb),
            str(target),
        ]
    else:
        cmd = ["assimp", "export", str(glb), str(target), "-ffbx"]
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise GeometryError(
            f"{dest.name}: {tool} took over {TOOL_TIMEOUT_S:.0f} s writing FBX"
        ) from None
    glb.unlink()
    if run.returncode != 0 or not target.exists() or target.stat().st_size == 0:
        tail = (run.stderr or run.stdout).strip().splitlines()
        raise GeometryError(
            f"{dest.name}: {tool} could not write FBX ({tail[-1][:160] if tail else run.returncode})"
        )
    for extra in dest.parent.iterdir():  # Blender may leave a texture folder beside an embedded FBX
        if extra != target and extra.is_dir():
            shutil.rmtree(extra)


# --- the table and the entry point -----------------------------------------------------------


@dataclass(frozen=True)
class ExportFormat:
    """One format :func:`export_mesh` writes."""

    name: str
    suffixes: tuple[str, ...]
    up: str
    units: str
    carries: str
    validated_by: str
    needs: str = ""


EXPORT_FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat(
        "obj",
        (".obj",),
        "y",
        "--units (a units comment voxforge reads back)",
        "MTL materials (one per face colour, PBR Pr/Pm), vertex colours, texture",
        "Blender, assimp",
    ),
    ExportFormat(
        "stl",
        (".stl",),
        "z",
        "--units (mm by default; named in the header)",
        "geometry (binary)",
        "Blender, assimp",
    ),
    ExportFormat(
        "ply",
        (".ply",),
        "z",
        "--units (a units comment voxforge reads back)",
        "vertex colours (binary)",
        "Blender, assimp",
    ),
    ExportFormat(
        "glb",
        (".glb",),
        "y",
        "metres (glTF spec)",
        "PBR material, vertex colours, one material per face colour, texture",
        "Khronos glTF validator, Blender, assimp",
    ),
    ExportFormat(
        "gltf",
        (".gltf",),
        "y",
        "metres (glTF spec)",
        "as GLB, buffer embedded",
        "Khronos glTF validator",
    ),
    ExportFormat(
        "3mf",
        (".3mf",),
        "z",
        "--units (written in the file)",
        "colours (base materials or a colour group)",
        "assimp",
    ),
    ExportFormat(
        "usd",
        (".usd", ".usdc"),
        "y",
        "--units (metersPerUnit)",
        "UsdPreviewSurface materials, displayColor, texture",
        "usdchecker validators",
    ),
    ExportFormat(
        "usda", (".usda",), "y", "--units (metersPerUnit)", "as USD, text", "usdchecker validators"
    ),
    ExportFormat(
        "usdz",
        (".usdz",),
        "y",
        "--units (metersPerUnit)",
        "as USD, AR Quick Look package",
        "usdchecker validators (--arkit)",
    ),
    ExportFormat(
        "fbx",
        (".fbx",),
        "y",
        "centimetres (FBX unit in the file)",
        "materials, vertex colours",
        "Blender, assimp",
        needs="blender or assimp",
    ),
    ExportFormat(
        "off",
        (".off",),
        "z",
        "--units (a units comment voxforge reads back)",
        "RGBA per face when coloured",
        "assimp",
    ),
)


def export_formats() -> list[dict[str, str]]:
    """The formats :func:`export_mesh` writes, as rows (name, suffixes, up, units, carries, ...)."""
    return [
        {
            "name": f.name,
            "suffixes": " ".join(f.suffixes),
            "up": f.up.upper(),
            "units": f.units,
            "carries": f.carries,
            "validated_by": f.validated_by,
            "needs": f.needs,
        }
        for f in EXPORT_FORMATS
    ]


def format_for(path: Path, fmt: str | None) -> ExportFormat:
    if fmt is not None:
        key = fmt.lower().lstrip(".")
        for f in EXPORT_FORMATS:
            if key == f.name or "." + key in f.suffixes:
                return f
    else:
        for f in EXPORT_FORMATS:
            if path.suffix.lower() in f.suffixes:
                return f
    names = ", ".join(f.name for f in EXPORT_FORMATS)
    what = repr(fmt) if fmt is not None else f"suffix {path.suffix or '(none)'!r}"
    raise ConfigError(f"{path.name}: cannot export meshes as {what}; choose one of {names}")


def export_mesh(
    mesh: Mesh | trimesh.Trimesh,
    path: str | Path,
    *,
    format: str | None = None,
    units: str = "mm",
    material: PbrMaterial | None = None,
) -> Path:
    """Write ``mesh`` (z-up, metres) to ``path`` in ``format`` (default: from the suffix).

    ``units`` scales the formats whose numbers are the size (OBJ, STL, PLY) and is recorded in the
    ones that say their unit (3MF, USD); glTF is always metres and FBX centimetres, as their specs
    and readers expect. ``material`` defaults to a light grey, mid-rough dielectric. Returns the
    written path; an OBJ's ``.mtl`` (and texture) lands beside it.
    """
    path = Path(path)
    spec = format_for(path, format)
    if format is not None and path.suffix.lower() not in spec.suffixes:
        path = path.with_name(path.name + spec.suffixes[0])
    tm = _check(mesh, path.name)
    unit = normalize_units(units) or "mm"
    if unit not in UNIT_SCALES:
        raise ConfigError(f"unknown units {units!r}")
    mat = material or PbrMaterial()
    if spec.name in ("glb", "gltf", "fbx"):
        scale = 1.0
    else:
        scale = 1.0 / UNIT_SCALES[unit]
    prepared = _prepare(
        tm, up=spec.up, scale=scale, keep_texture=spec.name not in ("stl", "ply", "3mf", "off")
    )
    if not path.parent.exists():
        raise ConfigError(f"{path}: the folder {path.parent} does not exist")
    writers: dict[str, Callable[[_Prepared, Path, PbrMaterial], None]] = {
        "obj": lambda p, o, m: _write_obj(p, o, m, unit),
        "stl": lambda p, o, m: _write_stl(p, o, m, unit),
        "ply": lambda p, o, m: _write_ply(p, o, m, unit),
        "glb": _write_glb,
        "gltf": _write_gltf,
        "3mf": lambda p, o, m: _write_3mf(p, o, m, unit),
        "usd": lambda p, o, m: _write_usd(p, o, m, UNIT_SCALES[unit]),
        "usda": lambda p, o, m: _write_usd(p, o, m, UNIT_SCALES[unit]),
        "usdz": lambda p, o, m: _write_usd(p, o, m, UNIT_SCALES[unit]),
        "fbx": _write_fbx,
        "off": lambda p, o, m: _write_off(p, o, m, unit),
    }
    out = _AtomicFiles(path)
    try:
        writers[spec.name](prepared, out.path(path.name), mat)
        out.commit()
    finally:
        out.cleanup()
    return path


__all__ = [
    "EXPORT_FORMATS",
    "ExportFormat",
    "PbrMaterial",
    "export_formats",
    "export_mesh",
    "fbx_tool",
    "format_for",
    "parse_rgb",
]
