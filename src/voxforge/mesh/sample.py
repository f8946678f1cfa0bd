"""Area-weighted random samples of a mesh surface, with the colour the mesh shows at each sample.

Colours come from ``mesh.tm.visual``: vertex colours interpolated barycentrically, face colours,
or a texture looked up through the interpolated UVs (bilinear, UVs wrapped into [0, 1), v flipped
because image rows run top-down while v runs up) and multiplied by the material's colour factor
(glTF ``baseColorFactor``; an OBJ ``Kd`` is not applied to its texture, see
:func:`_color_factor`). A textured material without UVs or image gives its flat main colour.
Texture filtering and the factor act in linear light; vertex colours are interpolated as stored
(sRGB), as renderers do. Results are sRGB floats in [0, 1].
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from voxforge.core.color import linear_to_srgb, srgb_to_linear
from voxforge.core.errors import ConfigError, GeometryError
from voxforge.core.mesh import Mesh


class SurfaceSamples(NamedTuple):
    """Samples of a surface.

    Attributes:
        points: (n, 3) float64 positions, the mesh's units.
        rgb: (n, 3) float32 sRGB in [0, 1], or None when the mesh has no colours.
        face_index: (n,) int64 face each sample lies on.
        barycentric: (n, 3) float64 barycentric coordinates in that face.
    """

    points: np.ndarray
    rgb: np.ndarray | None
    face_index: np.ndarray
    barycentric: np.ndarray


def sample_surface(
    mesh: Mesh,
    count: int | None = None,
    *,
    spacing: float | None = None,
    seed: int = 0,
    axis_scale: np.ndarray | None = None,
) -> SurfaceSamples:
    """Draw samples uniformly over the surface area (deterministic for a given ``seed``).

    Args:
        mesh: the mesh (metres, z up).
        count: number of samples; give this or ``spacing``.
        spacing: mean distance between samples; ``count = ceil(area / spacing**2)``.
        seed: random seed.
        axis_scale: (3,) optional per-axis scale under which areas are measured; with
            ``1 / pitch`` the samples are uniform per *cell* on an anisotropic lattice.

    Returns:
        :class:`SurfaceSamples` (a tuple ``points, rgb, face_index, barycentric``).
    """
    mesh.validate(str(mesh.meta.get("source", "mesh")))
    tri = np.asarray(mesh.vertices, dtype=np.float64)[np.asarray(mesh.faces)]
    scaled = tri if axis_scale is None else tri * np.asarray(axis_scale, dtype=np.float64)
    areas = 0.5 * np.linalg.norm(
        np.cross(scaled[:, 1] - scaled[:, 0], scaled[:, 2] - scaled[:, 0]), axis=1
    )
    total = float(areas.sum())
    if not total > 0.0:
        raise GeometryError(f"{mesh.meta.get('source', 'mesh')} has zero surface area")
    n = _sample_count(total, count, spacing)
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(areas)
    face = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    face = np.minimum(face, len(areas) - 1).astype(np.int64)
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1.0
    u[flip], v[flip] = 1.0 - u[flip], 1.0 - v[flip]
    bary = np.stack([1.0 - u - v, u, v], axis=1)
    points = np.einsum("ni,nij->nj", bary, tri[face])
    rgb = surface_colors(mesh, face, bary)
    return SurfaceSamples(points=points, rgb=rgb, face_index=face, barycentric=bary)


def _sample_count(area: float, count: int | None, spacing: float | None) -> int:
    if (count is None) == (spacing is None):
        raise ConfigError("sample_surface needs exactly one of count or spacing")
    if spacing is not None:
        if not spacing > 0.0:
            raise ConfigError(f"sample spacing must be positive, got {spacing}")
        count = int(np.ceil(area / spacing**2))
    assert count is not None
    if count < 1:
        raise ConfigError(f"sample count must be at least 1, got {count}")
    return int(count)


def surface_colors(
    mesh: Mesh,
    face_index: np.ndarray,
    barycentric: np.ndarray,
    covered: np.ndarray | None = None,
) -> np.ndarray | None:
    """(n, 3) float32 sRGB colour at points given by face and barycentric coordinates, or None.

    Args:
        mesh: the mesh whose ``tm.visual`` holds the colours.
        face_index: (n,) int faces.
        barycentric: (n, 3) float weights of the face's corners.
        covered: a textured mesh's chart texels (:func:`uv_coverage` of all its faces), for
            callers that look up many batches (else those of the faces looked up, each call).
    """
    visual = mesh.tm.visual
    kind = getattr(visual, "kind", None)
    faces = np.asarray(mesh.faces)[face_index]
    if kind == "vertex":
        # Renderers interpolate vertex colours as stored; do the same, then stay in sRGB.
        srgb = np.asarray(visual.vertex_colors, dtype=np.float64)[:, :3] / 255.0
        out = np.einsum("ni,nij->nj", barycentric, srgb[faces])
        return np.clip(out, 0.0, 1.0).astype(np.float32)
    if kind == "face":
        fc = np.asarray(visual.face_colors, dtype=np.float32)[:, :3] / 255.0
        return fc[face_index]
    if kind == "texture":
        return _texture_colors(visual, np.asarray(mesh.faces), face_index, barycentric, covered)
    return None


def texture_and_uv(mesh: Mesh) -> tuple[np.ndarray, np.ndarray] | None:
    """``(image (h, w, 3) uint8 sRGB, uv (n, 2))`` of a textured mesh, or None for a mesh
    without a texture image and UVs."""
    visual = mesh.tm.visual
    image = _material_image(getattr(visual, "material", None))
    uv = getattr(visual, "uv", None)
    if getattr(visual, "kind", None) != "texture" or image is None or uv is None or len(uv) == 0:
        return None
    return image, np.asarray(uv, dtype=np.float64)


def _texture_colors(
    visual: Any,
    all_faces: np.ndarray,
    face_index: np.ndarray,
    barycentric: np.ndarray,
    covered: np.ndarray | None = None,
) -> np.ndarray:
    """Texture lookup through UVs, times the material factor; flat main colour without UVs/image."""
    material = getattr(visual, "material", None)
    image = _material_image(material)
    uv = getattr(visual, "uv", None)
    n = len(face_index)
    if image is None or uv is None or len(uv) == 0:
        flat = np.asarray(_main_color(material), dtype=np.float32)[:3] / 255.0
        return np.broadcast_to(flat, (n, 3)).astype(np.float32)
    uv = np.asarray(uv, dtype=np.float64)
    uv_at = np.einsum("ni,nij->nj", barycentric, uv[all_faces[face_index]])
    if covered is None:
        covered = uv_coverage(uv[all_faces[np.unique(face_index)]], image.shape[:2])
    lin = bilinear_linear(image, uv_at, covered)
    factor = _color_factor(material)
    return linear_to_srgb(lin * factor)


def uv_coverage(uv_triangles: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(h, w) bool: texels that the (k, 3, 2) UV triangles touch (wrapped into [0, 1)).

    Texture atlases leave background (often black) between their charts; a bilinear lookup near
    a chart's edge would blend that background into the surface's colour, which darkens scans
    whose atlas is cut into many small charts. A texel counts when its centre lies inside a
    triangle (the rule texture bakers paint by; PIL's polygon fill, within a texel at the edges).
    """
    from PIL import Image, ImageDraw

    h, w = int(shape[0]), int(shape[1])
    tri = np.asarray(uv_triangles, dtype=np.float64).reshape(-1, 3, 2)
    if len(tri) == 0 or (np.ptp(tri, axis=1) >= 1.0).any():
        return np.ones((h, w), dtype=bool)  # a tiled texture: some face spans all of it
    tri = tri - np.floor(tri.min(axis=1, keepdims=True))  # one period per triangle, as lookups wrap
    # PIL puts pixel centres on integer coordinates; texel i's centre is at u = (i + 0.5) / w.
    px = np.stack([tri[..., 0] * w - 0.5, (1.0 - tri[..., 1]) * h - 0.5], axis=-1)
    mask = Image.new("1", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    for coords in px.reshape(-1, 6).tolist():
        draw.polygon(coords, fill=1)
    # a triangle past the image's right (u > 1) or top (v > 1) edge also covers the far side
    over_u, over_v = px[..., 0].max(axis=1) > w - 1, px[..., 1].min(axis=1) < 0
    for du, dv, rows in ((-w, 0, over_u), (0, h, over_v), (-w, h, over_u & over_v)):
        for coords in (px[rows] + np.array([du, dv])).reshape(-1, 6).tolist():
            draw.polygon(coords, fill=1)
    return np.array(mask, dtype=bool)


def bilinear_linear(image: np.ndarray, uv: np.ndarray, covered: np.ndarray | None = None) -> np.ndarray:
    """(n, 3) float32 linear RGB bilinearly filtered from an (h, w, 3) uint8 sRGB texture.

    UVs wrap (repeat) into [0, 1); v = 0 is the bottom row of the image. Texel centres sit at
    ``(i + 0.5) / w``, as in OpenGL. With ``covered`` ((h, w) bool, see :func:`uv_coverage`) only
    covered texels take part (weights renormalised); a lookup with no covered texel among its
    four uses all four.
    """
    h, w = image.shape[:2]
    u = np.mod(uv[:, 0], 1.0) * w - 0.5
    v = (1.0 - np.mod(uv[:, 1], 1.0)) * h - 0.5
    x0 = np.floor(u).astype(np.int64)
    y0 = np.floor(v).astype(np.int64)
    fx = (u - x0)[:, None].astype(np.float32)
    fy = (v - y0)[:, None].astype(np.float32)
    x0w, x1w = np.mod(x0, w), np.mod(x0 + 1, w)
    y0w, y1w = np.mod(y0, h), np.mod(y0 + 1, h)
    corners = ((y0w, x0w), (y0w, x1w), (y1w, x0w), (y1w, x1w))
    weights = np.concatenate([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], axis=1)
    if covered is not None:
        inside = np.stack([covered[yy, xx] for yy, xx in corners], axis=1)
        kept = weights * inside
        total = kept.sum(axis=1, keepdims=True)
        weights = np.where(total > 0, kept / np.maximum(total, 1e-12), weights)
    out = np.zeros((len(u), 3), dtype=np.float32)
    for k, (yy, xx) in enumerate(corners):
        out += srgb_to_linear(image[yy, xx, :3].astype(np.float32) / 255.0) * weights[:, k : k + 1]
    return out


def _material_image(material: Any) -> np.ndarray | None:
    """The base colour texture as (h, w, 3) uint8 sRGB, or None."""
    img = getattr(material, "baseColorTexture", None)
    if img is None:
        img = getattr(material, "image", None)
    if img is None:
        return None
    if hasattr(img, "convert"):  # PIL image (any mode: P, L, RGBA, ...)
        img = img.convert("RGB")
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.dtype != np.uint8:
        arr = np.clip(np.asarray(arr, dtype=np.float64) * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255)
        arr = arr.astype(np.uint8)
    return np.ascontiguousarray(arr[:, :, :3])


def _color_factor(material: Any) -> np.ndarray:
    """(3,) float32 linear multiplier of the texture: glTF ``baseColorFactor``, else 1.

    An OBJ material's ``Kd`` does not tint its ``map_Kd`` texture here, as in Blender's and
    MeshLab's importers: exporters write ``Kd 0.8`` (or nothing, which trimesh fills with a 0.4
    grey) beside the texture that holds the real colour of a scan, and multiplying by it darkened
    textured scans (a banana's mustard yellow came out brown).
    """
    factor = getattr(material, "baseColorFactor", None)
    if factor is None:
        return np.ones(3, dtype=np.float32)
    f = np.asarray(factor, dtype=np.float32).reshape(-1)[:3]
    if np.issubdtype(np.asarray(factor).dtype, np.integer) or f.max() > 1.0:
        f = f / 255.0
    return f.astype(np.float32)


def _main_color(material: Any) -> np.ndarray:
    color = getattr(material, "main_color", None)
    if color is None:
        return np.array([255, 255, 255, 255], dtype=np.uint8)
    return np.asarray(color)
