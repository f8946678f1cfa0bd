"""Bake vertex colours into a UV texture atlas (for programs that read textures, not vertex colours).

The atlas packs the faces in pairs into square cells of a grid: the first face of a pair takes
the lower-left triangle of its cell, the second the upper-right one. Each texel takes the
barycentric blend of its face's three vertex colours, so the texture shows what the vertex
colours show. Faces get their own UV corners (inset by one texel so bilinear filtering stays in
the face), so vertices are split per face: the geometry is the same, but the textured copy is
a triangle soup for topology checks (each format's readers weld it back by position).
"""

from __future__ import annotations

import numpy as np
import trimesh

from voxforge.core.errors import GeometryError
from voxforge.core.mesh import Mesh

MAX_TEXTURE_PX = 4096


def bake_vertex_colors(mesh: Mesh, cell_px: int = 8) -> Mesh:
    """A copy of ``mesh`` with UVs and a texture image carrying its vertex colours."""
    from PIL import Image

    tm = mesh.tm
    if getattr(tm.visual, "kind", None) != "vertex":
        raise GeometryError("--texture needs vertex colours to bake; the mesh has none")
    faces = np.asarray(tm.faces, dtype=np.int64)
    colors = np.asarray(tm.visual.vertex_colors, dtype=np.float32)[:, :3]
    cells = (len(faces) + 1) // 2
    side = int(np.ceil(np.sqrt(cells)))
    s = int(max(4, min(cell_px, MAX_TEXTURE_PX // side)))
    size = side * s
    if size > MAX_TEXTURE_PX:
        raise GeometryError(f"{len(faces)} faces do not fit a {MAX_TEXTURE_PX}px atlas; decimate first")
    image = _texels(faces, colors, side, s)
    uv = _uvs(len(faces), side, s)
    verts = np.asarray(tm.vertices)[faces].reshape(-1, 3)
    out = trimesh.Trimesh(verts, np.arange(len(verts)).reshape(-1, 3), process=False)
    material = trimesh.visual.material.PBRMaterial(
        baseColorTexture=Image.fromarray(image), metallicFactor=0.0, roughnessFactor=0.8
    )
    out.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    return Mesh(tm=out, meta=dict(mesh.meta) | {"texture_px": size})


def _local(n_faces: int, side: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Per face: the pixel origin of its cell (x, y from the top-left) and whether it is upper."""
    face = np.arange(n_faces)
    cell = face // 2
    origin = np.stack([(cell % side) * s, (cell // side) * s], axis=1).astype(np.float64)
    return origin, (face % 2).astype(bool)


def _uvs(n_faces: int, side: int, s: int) -> np.ndarray:
    """(3 n_faces, 2) UVs (v up) of each face's corners."""
    origin, upper = _local(n_faces, side, s)
    lower_c = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    upper_c = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    corners = np.where(upper[:, None, None], upper_c, lower_c)  # (n, 3, 2) local (a, b)
    inner = s - 3.0
    px = origin[:, None, :] + 1.5 + corners * inner  # texel-centre coordinates, inset
    size = side * s
    uv = np.empty_like(px)
    uv[..., 0] = px[..., 0] / size
    uv[..., 1] = 1.0 - px[..., 1] / size
    return uv.reshape(-1, 2)


def _texels(faces: np.ndarray, colors: np.ndarray, side: int, s: int) -> np.ndarray:
    """(side s, side s, 3) uint8: each texel the barycentric blend of its face's vertex colours."""
    size = side * s
    yy, xx = np.mgrid[0:size, 0:size]
    cell = (yy // s) * side + (xx // s)
    inner = s - 3.0
    a = np.clip(((xx % s) + 0.5 - 1.5) / inner, 0.0, 1.0)
    b = np.clip(((yy % s) + 0.5 - 1.5) / inner, 0.0, 1.0)
    upper = a + b > 1.0
    face = np.minimum(cell * 2 + upper, len(faces) - 1)
    w = np.where(
        upper[..., None],
        np.stack([a + b - 1.0, 1.0 - a, 1.0 - b], axis=-1),
        np.stack([1.0 - a - b, a, b], axis=-1),
    )
    rgb = np.einsum("hwk,hwkc->hwc", w, colors[faces[face]])
    rgb[cell >= (len(faces) + 1) // 2] = 255.0
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)
