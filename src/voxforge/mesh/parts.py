"""A brick model as a GLB with one object per part and one material per LEGO colour.

For programs that edit a LEGO model part by part (Blender, Unity): every placement of an LDraw
model (``model.mpd`` of ``voxforge brickify``) becomes a node named ``<index> <part> <colour>``
holding that part's whole mesh (studs included), and every LDraw colour used becomes one glTF
``pbrMetallicRoughness`` material named ``LEGO <name> (<code>)``: its sRGB colour converted to
linear light, ABS roughness, transparency for transparent colours and metalness for chrome
and metallic ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

from voxforge.core.errors import GeometryError

ROUGHNESS = 0.35


def parts_scene(mpd: str | Path, *, stud_segments: int = 16) -> trimesh.Scene:
    """A :class:`trimesh.Scene` of the LDraw model ``mpd``: one node per placed part (z up, metres)."""
    from voxforge.bricks.colors.palette import load_colors
    from voxforge.bricks.geometry import brick_model_geometry
    from voxforge.bricks.ldraw import read_ldraw

    model = read_ldraw(mpd)
    if len(model.placements) == 0:
        raise GeometryError(f"{Path(mpd).name} places no parts")
    colors = load_colors()
    palette = {code: c.srgb for code, c in colors.items()}
    g = brick_model_geometry(model, palette, stud_segments=stud_segments, cull_hidden=False)
    order = np.argsort(g.face_part, kind="stable")
    bounds = np.searchsorted(g.face_part[order], np.arange(len(model.placements) + 1))
    materials: dict[int, trimesh.visual.material.PBRMaterial] = {}
    scene = trimesh.Scene()
    for i, p in enumerate(model.placements):
        faces = g.faces[order[bounds[i] : bounds[i + 1]]]
        if len(faces) == 0:
            continue
        used, local = np.unique(faces, return_inverse=True)
        tm = trimesh.Trimesh(g.vertices[used], local.reshape(-1, 3), process=False)
        code = int(p.color)
        if code not in materials:
            materials[code] = _material(colors.get(code), code)
        tm.visual = trimesh.visual.TextureVisuals(material=materials[code])
        name = colors[code].name if code in colors else str(code)
        scene.add_geometry(tm, node_name=f"{i:04d} {p.part} {name}", geom_name=f"{i:04d} {p.part}")
    return scene


def _material(color: object | None, code: int) -> trimesh.visual.material.PBRMaterial:
    from voxforge.core.color import srgb_to_linear

    srgb = np.asarray(getattr(color, "srgb", (0.5, 0.5, 0.5)), dtype=np.float64)
    finish = getattr(color, "finish", "solid")
    alpha = float(getattr(color, "alpha", 255)) / 255.0
    linear = [float(c) for c in srgb_to_linear(srgb)]
    return trimesh.visual.material.PBRMaterial(
        name=f"LEGO {getattr(color, 'name', code)} ({code})",
        baseColorFactor=[*linear, alpha],
        metallicFactor=0.9 if finish in ("chrome", "metal") else 0.0,
        roughnessFactor=0.15 if finish == "chrome" else ROUGHNESS,
        alphaMode="BLEND" if alpha < 1.0 else "OPAQUE",
        doubleSided=False,
    )


def parts_glb(mpd: str | Path) -> bytes:
    """GLB bytes of :func:`parts_scene`, turned Y-up as glTF wants."""
    from voxforge.io._base import Y_UP_TO_Z_UP

    scene = parts_scene(mpd)
    scene.apply_transform(Y_UP_TO_Z_UP.T)  # a rotation: its inverse
    return bytes(scene.export(file_type="glb"))
