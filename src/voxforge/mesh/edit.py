"""Edits of a finished mesh: size, rotation, centring, mirroring, palette recolouring, PBR material.

:func:`edit_mesh` applies, in this order: recolour, mirror, rotate, scale (``size`` sets the
longest side, ``scale`` multiplies), re-centre; the material is carried beside the mesh
(:class:`Material`, written into glTF as ``pbrMetallicRoughness``). Mirroring flips the face
winding back so the mesh stays outward. Recolouring groups the vertex colours into as many
clusters as the palette has colours (k-means in Oklab) and gives each cluster a palette colour:
darkest cluster to darkest colour without a seed, a seeded shuffle of that assignment with one
(``--seed`` variations).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import trimesh
from pydantic import BaseModel, ConfigDict, Field

from voxforge.core.errors import ConfigError, GeometryError
from voxforge.core.mesh import Mesh

UNIT_M = {"mm": 0.001, "cm": 0.01, "m": 1.0, "in": 0.0254}


@dataclass
class Material:
    """glTF metallic-roughness values; ``base_color`` is sRGB in [0, 1]."""

    base_color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    metallic: float = 0.0
    roughness: float = 0.8
    opacity: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class EditConfig(BaseModel):
    """Options of :func:`edit_mesh` (every one optional)."""

    model_config = ConfigDict(extra="forbid")

    size: str | None = Field(None, description="Longest side, e.g. '120mm', '12cm', '0.5m'.")
    scale: float | None = Field(None, gt=0.0, le=1e6, description="Uniform scale factor.")
    rotate: list[str] = Field(default_factory=list, description="Rotations like 'x90', 'z-45'.")
    center: bool = Field(False, description="Centre x/y on the origin and put the base at z=0.")
    mirror: str | None = Field(None, pattern="^[xyz]$", description="Mirror across this axis.")
    palette: list[str] | None = Field(None, description="Hex colours to recolour with.")
    seed: int | None = Field(None, ge=0, description="Shuffle the palette assignment (variations).")
    base_color: str | None = Field(None, description="Material base colour, hex.")
    metallic: float | None = Field(None, ge=0.0, le=1.0)
    roughness: float | None = Field(None, ge=0.0, le=1.0)
    opacity: float | None = Field(None, ge=0.0, le=1.0)


def parse_length(text: str) -> float:
    """Metres of a length like ``120mm``, ``12 cm``, ``0.3m``, ``4in``."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(mm|cm|m|in)\s*", text or "")
    if not m:
        raise ConfigError(f"size {text!r} is not a length like 120mm, 12cm or 0.3m")
    value = float(m.group(1)) * UNIT_M[m.group(2)]
    if not 1e-5 <= value <= 1e4:
        raise ConfigError(f"size {text!r} is outside 0.01 mm .. 10 km")
    return value


def parse_rotation(text: str) -> np.ndarray:
    """4x4 rotation of ``x90``, ``y-45``, ``z180`` (degrees about a world axis)."""
    m = re.fullmatch(r"\s*([xyzXYZ])\s*([-+]?[0-9]*\.?[0-9]+)\s*", text or "")
    if not m:
        raise ConfigError(f"rotation {text!r} is not like x90, y-45 or z180")
    axis = np.eye(3)["xyz".index(m.group(1).lower())]
    return trimesh.transformations.rotation_matrix(np.radians(float(m.group(2))), axis)


def parse_hex(text: str) -> np.ndarray:
    from voxforge.core.color import hex_to_srgb

    try:
        return np.asarray(hex_to_srgb(text.strip()), dtype=np.float64)
    except Exception:
        raise ConfigError(f"colour {text!r} is not a hex colour like #c91a09") from None


def material_of(config: EditConfig, base: Material | None = None) -> Material | None:
    """The material the options describe on top of ``base``; None when no option names one."""
    fields = (config.base_color, config.metallic, config.roughness, config.opacity)
    if all(v is None for v in fields) and base is None:
        return None
    mat = Material(**(base.to_dict() if base else {}))
    if config.base_color is not None:
        mat.base_color = tuple(float(c) for c in parse_hex(config.base_color))  # type: ignore[assignment]
    for name in ("metallic", "roughness", "opacity"):
        if getattr(config, name) is not None:
            setattr(mat, name, float(getattr(config, name)))
    return mat


def edit_mesh(mesh: Mesh, config: EditConfig) -> tuple[Mesh, list[str]]:
    """The edited copy of ``mesh`` and one line per change (see the module docstring)."""
    mesh.validate(str(mesh.meta.get("source", "mesh")))
    tm = mesh.tm.copy()
    changes: list[str] = []
    if config.palette:
        _recolor(tm, [parse_hex(c) for c in config.palette], config.seed)
        changes.append(f"recoloured with {len(config.palette)} palette colour(s)")
    if config.mirror:
        axis = "xyz".index(config.mirror)
        m = np.eye(4)
        m[axis, axis] = -1.0
        tm.apply_transform(m)  # trimesh flips the winding of a reflection itself
        changes.append(f"mirrored across {config.mirror}")
    for text in config.rotate:
        tm.apply_transform(parse_rotation(text))
        changes.append(f"rotated {text.strip()}")
    if config.size is not None and config.scale is not None:
        raise ConfigError("give --size or --scale, not both")
    if config.size is not None:
        target = parse_length(config.size)
        longest = float(np.ptp(tm.vertices, axis=0).max())
        if not longest > 0:
            raise GeometryError("mesh has no extent to scale")
        tm.apply_scale(target / longest)
        changes.append(f"scaled longest side to {config.size} (x{target / longest:.4g})")
    elif config.scale is not None:
        tm.apply_scale(config.scale)
        changes.append(f"scaled x{config.scale:g}")
    if config.center:
        lo, hi = tm.bounds
        tm.apply_translation([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
        changes.append("centred on the origin, base at z=0")
    return Mesh(tm=tm, meta=dict(mesh.meta)), changes


def _recolor(tm: trimesh.Trimesh, palette: list[np.ndarray], seed: int | None) -> None:
    """Vertex colours clustered into len(palette) groups, each painted one palette colour."""
    from scipy.cluster.vq import kmeans2

    from voxforge.core.color import srgb_to_oklab

    pal = np.stack(palette)
    kind = getattr(tm.visual, "kind", None)
    if kind == "vertex":
        rgb = np.asarray(tm.visual.vertex_colors, dtype=np.float64)[:, :3] / 255.0
    elif kind in ("face", "texture"):
        from voxforge.mesh.preview import mesh_face_rgb

        face_rgb = mesh_face_rgb(tm)
        rgb = np.zeros((len(tm.vertices), 3))
        np.add.at(rgb, np.asarray(tm.faces).ravel(), np.repeat(face_rgb, 3, axis=0))
        count = np.bincount(np.asarray(tm.faces).ravel(), minlength=len(tm.vertices))
        rgb /= np.maximum(count, 1)[:, None]
    else:
        rgb = np.full((len(tm.vertices), 3), 0.72)
    lab = srgb_to_oklab(rgb.astype(np.float64))
    k = min(len(pal), len(np.unique(np.round(lab, 3), axis=0)))
    if k <= 1:
        labels = np.zeros(len(rgb), dtype=np.int64)
        centroids = lab[:1]
    else:
        centroids, labels = kmeans2(lab, k, seed=0 if seed is None else seed, minit="++")
    order = np.argsort(centroids[:, 0])  # clusters dark to light
    pal_order = np.argsort(srgb_to_oklab(pal)[:, 0])
    if seed is not None:
        pal_order = np.random.default_rng(seed).permutation(pal_order)
    assign = np.empty(len(centroids), dtype=np.int64)
    assign[order] = pal_order[: len(order)]
    out = pal[assign[labels]]
    rgba = np.empty((len(out), 4), dtype=np.uint8)
    rgba[:, :3] = np.clip(np.round(out * 255.0), 0, 255)
    rgba[:, 3] = 255
    tm.visual = trimesh.visual.ColorVisuals(tm, vertex_colors=rgba)


def glb_with_material(data: bytes, material: Material) -> bytes:
    """A GLB whose materials carry the ``pbrMetallicRoughness`` factors of ``material`` (one new
    material for primitives without any; textures stay and are multiplied by the factors).

    glTF multiplies ``COLOR_0`` by ``baseColorFactor``, so vertex colours stay; the factor is
    linear light (the spec), converted from the sRGB ``base_color``; opacity below 1 sets
    ``alphaMode`` BLEND.
    """
    import json
    import struct

    from voxforge.core.color import srgb_to_linear

    if data[:4] != b"glTF":
        raise ConfigError("material values can be written into GLB only")
    json_len = struct.unpack_from("<I", data, 12)[0]
    doc = json.loads(data[20 : 20 + json_len])
    rest = data[20 + json_len :]
    base = [float(c) for c in srgb_to_linear(np.asarray(material.base_color, dtype=np.float64))]
    factors = {
        "baseColorFactor": [*base, float(material.opacity)],
        "metallicFactor": float(material.metallic),
        "roughnessFactor": float(material.roughness),
    }
    if not doc.get("materials"):
        doc["materials"] = [{"name": "voxforge"}]
        for m in doc.get("meshes", []):
            for prim in m.get("primitives", []):
                prim["material"] = 0
    for mat in doc["materials"]:  # textures stay; the factors multiply them
        mat.setdefault("pbrMetallicRoughness", {}).update(factors)
        if material.opacity < 1.0:
            mat["alphaMode"] = "BLEND"
    text = json.dumps(doc, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text + rest
    return b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body
