"""Mesh formats read through trimesh: OBJ (+MTL, textures), STL, OFF, glTF/GLB, 3MF.

Scenes are flattened into one mesh with each node's transform applied. Appearance stays on the
trimesh visual (``TextureVisuals`` with UVs and the material image, or ``ColorVisuals``) so the
voxelizer can sample colours. Then the mesh is turned to our frame and units:

* up axis: glTF/GLB is Y-up by its spec, OFF (ModelNet) and 3MF are z-up. OBJ (Y-up by
  convention), STL and PLY (z-up by convention) do not say, so the axis is guessed from the
  geometry: the one giving a flat base that rests the object (:mod:`voxforge.io.up_axis`; scans
  written z-up as OBJ stand instead of lying on their side). Y-up meshes are rotated
  (x, y, z) -> (x, -z, y). ``up="y" | "z"`` overrides; ``meta["up_note"]`` says what was guessed.
* missing files an OBJ names (its MTL, a ``map_Kd`` texture) are logged as warnings and listed
  in ``meta["warnings"]`` with the colour the mesh falls back to.
* units (``units=None`` means auto): glTF is metres by its spec, 3MF says its unit in the file
  (millimetres by default), STL is millimetres by the CAD/3D-printing convention; OBJ, OFF and
  PLY have no units, so a largest extent above 10 is taken as millimetres, otherwise metres.
  ``units="m" | "cm" | "mm" | "in"`` overrides. ``meta`` records ``units``, ``units_guessed``, ``up``,
  ``up_guessed``.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import zipfile
from typing import Any

import numpy as np
import trimesh

from voxforge.core.errors import GeometryError, VoxforgeError
from voxforge.core.mesh import Mesh
from voxforge.io._base import (
    HEAD_BYTES,
    UNIT_SCALES,
    Y_UP_TO_Z_UP,
    FormatSpec,
    Source,
    declared_unit,
    normalize_units,
    normalize_up,
    text_head,
)
from voxforge.io.heads import head_refusal
from voxforge.io.up_axis import guess_up

log = logging.getLogger(__name__)

AUTO_MM_EXTENT = 10.0
"""Unit-less meshes whose largest extent exceeds this are taken as millimetres."""
DEFAULT_UP = {"obj": "y", "gltf": "y", "glb": "y", "stl": "z", "off": "z", "ply": "z", "3mf": "z"}
GUESS_UP = ("obj", "stl", "ply")
"""Formats whose up axis is guessed from the geometry (see :mod:`voxforge.io.up_axis`)."""
OBJ_KEYWORDS = ("v", "vt", "vn", "vp", "f", "l", "p", "o", "g", "s", "mtllib", "usemtl")
THREEMF_UNITS = {
    "micron": "um",
    "millimeter": "mm",
    "centimeter": "cm",
    "meter": "m",
    "inch": "in",
    "foot": "ft",
}


# --- sniffers ---------------------------------------------------------------------------------


def sniff_binary_stl(head: bytes, size: int) -> bool:
    """An STL whose 84-byte header's face count matches the file size exactly."""
    if size < 84 + 50 or len(head) < 84:
        return False
    (n,) = struct.unpack("<I", head[80:84])
    return size == 84 + 50 * n


def sniff_ascii_stl(head: bytes, size: int) -> bool:
    text = text_head(head)
    if text is None:
        return False
    stripped = text.lstrip().lower()
    return stripped.startswith("solid") and ("facet" in stripped or "endsolid" in stripped)


def sniff_stl(head: bytes, size: int) -> bool:
    return sniff_ascii_stl(head, size) or sniff_binary_stl(head, size)


def sniff_off(head: bytes, size: int) -> bool:
    text = text_head(head)
    if text is None:
        return False
    for line in text.splitlines():
        token = line.strip().split("#", 1)[0].strip()
        if token:
            return re.match(r"^(ST)?C?N?4?n?OFF(\s|\d|$)", token) is not None
    return False


def sniff_obj(head: bytes, size: int) -> bool:
    text = text_head(head)
    if text is None:
        return False
    lines = [ln.strip() for ln in text.splitlines()]
    if len(head) < size and lines:
        lines = lines[:-1]
    words = [ln.split(None, 1)[0] for ln in lines if ln and not ln.startswith("#")]
    return "v" in words and all(w in OBJ_KEYWORDS for w in words)


def sniff_glb(head: bytes, size: int) -> bool:
    return head.startswith(b"glTF")


def sniff_gltf(head: bytes, size: int) -> bool:
    text = text_head(head)
    return text is not None and text.lstrip().startswith("{") and '"asset"' in text


# --- reading ----------------------------------------------------------------------------------


def load_trimesh(src: Source, file_type: str) -> trimesh.Trimesh:
    """Load with trimesh and flatten scenes; trimesh's own exceptions become InputFormatError."""
    try:
        if src.path is not None:
            loaded = trimesh.load(str(src.path), file_type=file_type, process=False)
        else:
            loaded = trimesh.load(io.BytesIO(src.data()), file_type=file_type, process=False)
        tm = _flatten(src, loaded, file_type)
    except VoxforgeError:
        raise
    except Exception as e:  # trimesh raises many types for malformed files
        if isinstance(e, MemoryError):
            raise src.error(f"{file_type.upper()} file asks for more memory than available") from None
        raise src.error(mesh_problem(file_type, e)) from None
    return tm


_PROBLEMS: tuple[tuple[str, str], ...] = (
    ("unexpected length", "is shorter than its header says (cut off)"),
    ("not expected length", "is shorter than its header says (cut off)"),
    ("expecting", "holds JSON that is cut off or corrupt"),
    ("unterminated", "holds JSON that is cut off or corrupt"),
    ("badzipfile", "is not a complete zip archive (cut off or corrupt)"),
    ("jsondecodeerror", "holds JSON that is cut off or corrupt"),
    ("zip file version", "uses a zip feature voxforge cannot unpack"),
    ("vertex/face count line", "has no valid 'vertices faces edges' count line"),
    ("cannot reshape", "has vertex or face lines that do not match its counts (cut off or malformed)"),
    ("inhomogeneous", "has vertex or face lines that do not match its counts (cut off or malformed)"),
    ("index", "has faces that point at vertices it does not hold"),
)


def mesh_problem(file_type: str, error: BaseException) -> str:
    """A mesh library's exception in our words: what is wrong with the file, then its own text."""
    name = {"gltf": "glTF", "glb": "GLB"}.get(file_type, file_type.upper())
    text = str(error).strip().splitlines()[0][:160] if str(error).strip() else ""
    low = f"{type(error).__name__} {text}".lower()
    for needle, words in _PROBLEMS:
        if needle in low:
            return f"{name} file {words}"
    detail = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return f"{name} file is malformed or cut off ({detail})"


_NO_FACES = {
    "obj": "OBJ file holds no faces (no 'v' and 'f' lines)",
    "stl": "STL file holds no complete facet (cut off, or an empty solid)",
    "off": "OFF file holds no faces",
}


def _gltf_colours(tm: trimesh.Trimesh) -> trimesh.Trimesh:
    """Colours of one glTF primitive as sRGB vertex or face colours (glTF's are linear).

    ``COLOR_0`` without a material arrives as trimesh vertex colours (8-bit linear); with a
    material that has no texture image trimesh keeps it as a vertex attribute (8- or 16-bit), or,
    without ``COLOR_0``, the material's base colour factor colours every face."""
    from voxforge.core.color import linear_to_srgb

    visual = tm.visual
    kind = getattr(visual, "kind", None)
    if kind == "vertex":
        tm.visual.vertex_colors = _convert_rgb(tm.visual.vertex_colors, linear_to_srgb)
        return tm
    if kind != "texture" or getattr(visual, "uv", None) is not None:
        return tm
    image = getattr(visual.material, "baseColorTexture", None) or getattr(visual.material, "image", None)
    if image is not None:
        return tm
    colors = visual.vertex_attributes.get("color") if hasattr(visual, "vertex_attributes") else None
    if colors is not None and len(colors) == len(tm.vertices):
        rgba = np.asarray(colors, dtype=np.float64)
        if rgba.shape[1] == 3:
            rgba = np.hstack([rgba, np.ones((len(rgba), 1))])
        if np.asarray(colors).dtype == np.uint16:
            rgba /= 65535.0
        elif np.asarray(colors).dtype == np.uint8:
            rgba /= 255.0
        rgba[:, :3] = linear_to_srgb(np.clip(rgba[:, :3], 0.0, 1.0), np.float64)
        out = np.rint(np.clip(rgba, 0.0, 1.0) * 255.0).astype(np.uint8)
        tm.visual = trimesh.visual.ColorVisuals(tm, vertex_colors=out)
        return tm
    factor = getattr(visual.material, "baseColorFactor", None)
    if factor is not None:
        rgb = linear_to_srgb(np.asarray(factor[:3], dtype=np.float64) / 255.0, np.float64)
        rgba = np.append(np.rint(rgb * 255.0), factor[3]).astype(np.uint8)
        tm.visual = trimesh.visual.ColorVisuals(tm, face_colors=np.tile(rgba, (len(tm.faces), 1)))
    return tm


def _obj_colours(tm: trimesh.Trimesh) -> trimesh.Trimesh:
    """An OBJ with materials but no texture coordinates and ``v x y z r g b`` lines: trimesh keeps
    the materials' visual and the colours as a vertex attribute; make them the vertex colours."""
    visual = tm.visual
    colors = tm.vertex_attributes.get("color")
    if getattr(visual, "kind", None) != "texture" or getattr(visual, "uv", None) is not None:
        return tm
    if colors is None or len(colors) != len(tm.vertices):
        return tm
    rgba = np.asarray(colors, dtype=np.float64)
    if rgba.max() <= 1.0:
        rgba = rgba * 255.0
    if rgba.shape[1] == 3:
        rgba = np.hstack([rgba, np.full((len(rgba), 1), 255.0)])
    tm.visual = trimesh.visual.ColorVisuals(tm, vertex_colors=np.rint(rgba).astype(np.uint8))
    return tm


def _flatten(src: Source, loaded: Any, file_type: str = "") -> trimesh.Trimesh:
    if file_type == "3mf":
        from voxforge.io.threemf_colors import apply_face_colors

        geoms = loaded.geometry.values() if isinstance(loaded, trimesh.Scene) else [loaded]
        apply_face_colors([g for g in geoms if isinstance(g, trimesh.Trimesh)], src.data())
    if isinstance(loaded, trimesh.Scene):
        for g in loaded.geometry.values():
            if isinstance(g, trimesh.Trimesh) and file_type in ("gltf", "glb"):
                _gltf_colours(g)
            elif isinstance(g, trimesh.Trimesh) and file_type == "obj":
                _obj_colours(g)
        parts = [g for g in loaded.dump() if isinstance(g, trimesh.Trimesh) and len(g.faces)]
        if not parts:
            what = _NO_FACES.get(file_type, "scene holds no triangle geometry (no faces)")
            raise GeometryError(f"{src.name}: {what}")
        return parts[0] if len(parts) == 1 else trimesh.util.concatenate(parts)
    if isinstance(loaded, trimesh.Trimesh):
        if file_type == "obj":
            return _obj_colours(loaded)
        return _gltf_colours(loaded) if file_type in ("gltf", "glb") else loaded
    found = "points" if isinstance(loaded, trimesh.PointCloud) else type(loaded).__name__
    raise GeometryError(f"{src.name}: has no faces (holds {found} only)")


def read_trimesh_mesh(
    src: Source, file_type: str, *, up: str | None = None, units: str | None = None, **_: Any
) -> Mesh:
    """Read any trimesh-supported mesh and bring it to z-up metres (see module doc)."""
    up, units = normalize_up(up), normalize_units(units)
    data = src.data()
    if file_type == "stl":
        refusal = head_refusal("stl", data[:HEAD_BYTES], len(data))
        if refusal is not None:
            raise src.error(refusal)
    tm = load_trimesh(src, file_type)
    Mesh(tm=tm).validate(src.name)
    with np.errstate(invalid="ignore", over="ignore"):  # huge finite values overflow when merging
        tm.process(validate=False)
    file_units, guessed = _file_units(src, file_type, tm, units)
    file_up = up or DEFAULT_UP.get(file_type, "z")
    up_note = None
    if up is None and file_type in GUESS_UP:
        guess = guess_up(tm, file_up)
        file_up, up_note = guess.up, guess.note(file_type)
        log.info("%s: %s", src.name, up_note)
    warnings = _texture_warnings(src, data, tm) if file_type == "obj" else []
    for warning in warnings:
        log.warning("%s", warning)
    if file_up == "y":
        tm.apply_transform(Y_UP_TO_Z_UP)
    scale = UNIT_SCALES[file_units]
    if scale != 1.0:
        tm.apply_scale(scale)
    meta = {
        "format": file_type,
        "units": file_units,
        "units_guessed": guessed,
        "up": file_up,
        "up_guessed": up is None,
    }
    if up_note is not None:
        meta["up_note"] = up_note
    if warnings:
        meta["warnings"] = warnings
    return Mesh(tm=tm, meta=meta).validate(src.name)


def _texture_warnings(src: Source, data: bytes, tm: trimesh.Trimesh) -> list[str]:
    """A line for every material library or ``map_Kd`` texture an OBJ names that is not there.

    trimesh skips what it cannot find and the mesh comes out in a flat material colour (or none);
    the user should hear which file is missing and what the colours fall back to (judged from
    the mesh ``tm`` as loaded).
    """
    if src.path is None:
        return []
    folder = src.path.parent
    text = data.decode("utf-8", "replace")
    out = []
    for lib in re.findall(r"^[ \t]*mtllib[ \t]+(.+?)[ \t]*$", text, flags=re.MULTILINE):
        mtl = folder / lib
        if not mtl.is_file():
            out.append(
                f"material library '{lib}' named by {src.path.name} not found; "
                f"colours fall back to {_fallback(tm, None)}"
            )
            continue
        for texture, kd in _mtl_textures(mtl.read_text("utf-8", "replace")):
            if _find_texture(mtl.parent, texture) is None:
                out.append(
                    f"texture '{texture}' named by {lib} not found; "
                    f"colours fall back to {_fallback(tm, kd)}"
                )
    return out


def _fallback(tm: trimesh.Trimesh, kd: tuple[float, ...] | None) -> str:
    """What a mesh whose texture is missing is coloured with (as the sampler reads it)."""
    if not Mesh(tm=tm).has_colors:
        return "the default brick colour (the mesh has none)"
    if kd is not None and len(kd) == 3:
        return f"the material's Kd colour {tuple(round(255 * min(max(c, 0.0), 1.0)) for c in kd)}"
    material = getattr(tm.visual, "material", None)
    image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
    if image is None:
        main = getattr(material, "main_color", None)
        rgb = np.array([255, 255, 255]) if main is None else np.asarray(main)[:3]
    else:  # trimesh's stand-in for a missing image is a tiny one-colour picture
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
        if (pixels != pixels[0]).any():
            return "a flat material colour"
        rgb = pixels[0]
    return f"one flat colour {tuple(int(c) for c in rgb)}"


def _mtl_textures(text: str) -> list[tuple[str, tuple[float, ...] | None]]:
    """(map_Kd file, Kd or None) for each material of an MTL file with a texture."""
    out = []
    texture: str | None = None
    kd: tuple[float, ...] | None = None

    def flush() -> None:
        if texture:
            out.append((texture, kd))

    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if len(words) < 2:
            continue
        key, rest = words[0].lower(), words[1].strip()
        if key == "newmtl":
            flush()
            texture, kd = None, None
        elif key == "map_kd":
            texture = rest
        elif key == "kd":
            try:
                kd = tuple(float(x) for x in rest.split()[:3])
            except ValueError:
                kd = None
    flush()
    return out


def _find_texture(folder: Any, name: str) -> Any:
    """The texture file a ``map_Kd`` value names (whole value, or its last word after options)."""
    for candidate in (name, name.split()[-1]):
        for path in (folder / candidate, folder / candidate.replace("\\", "/").split("/")[-1]):
            if path.is_file():
                return path
    return None


def _file_units(src: Source, file_type: str, tm: trimesh.Trimesh, units: str | None) -> tuple[str, bool]:
    if units is not None:
        return units, False
    if file_type in ("gltf", "glb"):
        return "m", False
    if file_type == "3mf":
        return _threemf_unit(src.data()), False
    if file_type in ("obj", "ply", "off", "stl"):
        tagged = declared_unit(src.data()[:HEAD_BYTES], stl=file_type == "stl")
        if tagged is not None:
            return tagged, False
    if file_type == "stl":
        return "mm", True
    extent = float(np.max(tm.extents)) if len(tm.vertices) else 0.0
    return ("mm" if extent > AUTO_MM_EXTENT else "m"), True


def _threemf_unit(data: bytes) -> str:
    """The ``unit`` attribute of a 3MF model (millimeter when absent, as the spec says)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        name = next((n for n in z.namelist() if n.lower().endswith(".model")), None)
        if name is None:
            return "mm"
        with z.open(name) as f:
            head = f.read(4096).decode("utf-8", "replace")
    m = re.search(r"<model[^>]*\bunit=\"(\w+)\"", head)
    return THREEMF_UNITS.get(m.group(1).lower(), "mm") if m else "mm"


def _reader(file_type: str):
    def read(src: Source, **options: Any) -> Mesh:
        return read_trimesh_mesh(src, file_type, **options)

    read.__name__ = f"read_{file_type}_mesh"
    read.__doc__ = f"Read a {file_type.upper()} file as a z-up, metre :class:`Mesh`."
    return read


def sniff_3mf_names(names: list[str]) -> bool:
    """True when a zip's member names are those of a 3MF package."""
    return any(n.lower().startswith("3d/") and n.lower().endswith(".model") for n in names)


FORMATS = (
    FormatSpec(
        name="obj",
        kinds=("mesh",),
        extensions=(".obj",),
        description="Wavefront OBJ with MTL materials and textures (up axis guessed)",
        readers={"mesh": _reader("obj")},
        sniff=sniff_obj,
        strong=False,
    ),
    FormatSpec(
        name="stl",
        kinds=("mesh",),
        extensions=(".stl",),
        description="STL ascii or binary (millimetres by convention; face count checked)",
        readers={"mesh": _reader("stl")},
        sniff=sniff_stl,
        strong=False,
    ),
    FormatSpec(
        name="off",
        kinds=("mesh",),
        extensions=(".off",),
        description="Object File Format (ModelNet meshes), z-up",
        readers={"mesh": _reader("off")},
        sniff=sniff_off,
    ),
    FormatSpec(
        name="glb",
        kinds=("mesh",),
        extensions=(".glb",),
        description="binary glTF 2.0 (Y-up, metres); scene flattened, textures kept",
        readers={"mesh": _reader("glb")},
        sniff=sniff_glb,
    ),
    FormatSpec(
        name="gltf",
        kinds=("mesh",),
        extensions=(".gltf",),
        description="glTF 2.0 JSON with external or embedded buffers (Y-up, metres)",
        readers={"mesh": _reader("gltf")},
        sniff=sniff_gltf,
    ),
    FormatSpec(
        name="3mf",
        kinds=("mesh",),
        extensions=(".3mf",),
        description="3D Manufacturing Format (zip); unit from the file",
        readers={"mesh": _reader("3mf")},
        sniff=None,  # a zip: told apart from npz/captures by member names in formats.sniff
    ),
)


# --------------------------------------------------------------------------------------------------
# Writing


EXPORT_TYPES = ("obj", "stl", "ply", "glb", "off")


def export_mesh(tm: trimesh.Trimesh, file_type: str) -> bytes:
    """Bytes of a z-up, metre mesh in ``file_type``, in that format's own conventions, so that
    other programs (and :func:`read_trimesh_mesh`) see it upright and at its real size.

    - OBJ and glTF are Y-up by convention (Blender, three.js, model viewers): rotated to Y-up.
    - STL carries no unit and means millimetres to every slicer: scaled to millimetres.
    - glTF vertex colours are linear light (glTF 2.0 spec, ``COLOR_0``); ours are sRGB: converted.
    """
    from voxforge.core.color import srgb_to_linear

    file_type = file_type.lower()
    if file_type not in EXPORT_TYPES:
        raise VoxforgeError(
            f"cannot write meshes as {file_type!r}; choose one of {', '.join(EXPORT_TYPES)}"
        )
    out = tm.copy()
    if DEFAULT_UP.get(file_type) == "y":
        out.apply_transform(Y_UP_TO_Z_UP.T)  # a rotation: its inverse
    if file_type == "stl":
        out.apply_scale(1000.0)
    if file_type == "glb" and out.visual.kind in ("face", "vertex"):
        attr = "face_colors" if out.visual.kind == "face" else "vertex_colors"
        setattr(out.visual, attr, _convert_rgb(getattr(out.visual, attr), srgb_to_linear))
    data = out.export(file_type=file_type)
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _convert_rgb(rgba: np.ndarray, curve: Any) -> np.ndarray:
    """(n, 4) uint8 colours with the RGB channels passed through a transfer ``curve``."""
    out = np.asarray(rgba, dtype=np.float64) / 255.0
    out[:, :3] = curve(out[:, :3], np.float64)
    return np.rint(out * 255.0).astype(np.uint8)
