"""Tangent-space normal maps baked from a detailed surface onto a coarse one (for low LODs).

A coarse level of detail keeps the silhouette but loses the shading of the detail between its
vertices; game engines give such a level a normal map baked from level 0. :func:`bake_normal_map`
does that: ``xatlas`` unwraps the coarse mesh into charts (vertices split at chart seams), every
texel covered by a chart gets the level-0 normal where a ray from the texel's surface point along
the coarse normal (both ways, the nearer hit) meets level 0, and the normal is stored in the
texel's tangent frame. Texels outside the charts are filled from the nearest chart texel, so
bilinear and mipmapped sampling does not bleed the background into the seams.

The tangent frame is the glTF one (:func:`vertex_tangents`): per vertex a unit tangent along
increasing ``u`` made orthogonal to the vertex normal and a handedness ``w``; the bitangent is
``cross(normal, tangent) * w``, and a renderer interpolates tangent, bitangent and normal across
the triangle and normalizes them (the Khronos glTF sample viewer's shading). :func:`shade_normals`
decodes a map the same way, so the bake and the measured render agree with what a glTF viewer
shows. UVs here use glTF's convention (origin at the image's top left, ``v`` down).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy import ndimage
from scipy.spatial import cKDTree

from voxforge.core.mesh import Mesh
from voxforge.core.tangents import vertex_tangents

NORMAL_MAP_PX = 512
"""Side of the square normal map texture, in texels."""
NORMAL_MAP_PADDING = 2
"""Texels xatlas keeps between charts."""
BAKE_CAGE = 0.02
"""How far out (a fraction of level 0's bounding diagonal) baking rays start."""


@dataclass
class NormalMapped:
    """A coarse mesh with its baked normal map: vertices split at chart seams, per-vertex unit
    normals, glTF UVs in [0, 1], glTF tangents ``(n, 4)`` and an ``(H, W, 3)`` uint8 image (RGB
    = tangent-space normal * 0.5 + 0.5); with a coloured level 0 also ``colors``, an ``(H, W,
    3)`` uint8 sRGB base colour texture baked the same way."""

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    uv: np.ndarray
    tangents: np.ndarray
    image: np.ndarray
    colors: np.ndarray | None = None


def unwrap(
    vertices: np.ndarray, faces: np.ndarray, size: int = NORMAL_MAP_PX
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(vmap, faces, uv)``: xatlas charts packed into a ``size`` square; ``vmap`` maps each new
    vertex to its input vertex, ``uv`` is in [0, 1] (glTF convention)."""
    import xatlas

    # xatlas's tolerances are absolute: a part a few hundredths of a millimetre across (in
    # metres) comes back with NaN UVs, so unwrap it at unit size (UVs do not depend on scale)
    v = np.asarray(vertices, np.float64)
    v = (v - v.min(axis=0)) / max(float(np.ptp(v, axis=0).max()), 1e-30)
    atlas = xatlas.Atlas()
    atlas.add_mesh(v.astype(np.float32), np.asarray(faces, np.uint32))
    pack = xatlas.PackOptions()
    pack.resolution = size
    pack.padding = NORMAL_MAP_PADDING
    pack.bilinear = True
    atlas.generate(pack_options=pack)
    vmap, new_faces, uv = atlas[0]
    return vmap.astype(np.int64), new_faces.astype(np.int64), uv.astype(np.float64)


def _frames(
    faces: np.ndarray, tri: np.ndarray, bary: np.ndarray, normals: np.ndarray, tangents: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sample the interpolated, normalized tangent, bitangent and normal (glTF shading)."""
    bitangents = _cross(normals, tangents[:, :3]) * tangents[:, 3:4]
    corners = faces[tri]  # (k, 3)
    out = []
    for per_vertex in (tangents[:, :3], bitangents, normals):
        x = np.einsum("kc,kcj->kj", bary, per_vertex[corners])
        out.append(x / np.maximum(np.sqrt(np.einsum("ij,ij->i", x, x)), 1e-12)[:, None])
    return out[0], out[1], out[2]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product of (k, 3) arrays (numpy's ``cross`` is several times slower)."""
    out = np.empty_like(a)
    out[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    out[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    out[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return out


@njit(cache=True)
def _uv_raster_kernel(p: np.ndarray, height: int, width: int, tri: np.ndarray, bary: np.ndarray) -> None:
    """Fill ``tri`` (height*width,) with the triangle whose footprint ``p`` (m, 3, 2; texel
    units, x along a row) holds each texel centre and ``bary`` (height*width, 3) with its
    barycentrics."""
    for k in range(p.shape[0]):
        ax, ay, bx, by, cx, cy = p[k, 0, 0], p[k, 0, 1], p[k, 1, 0], p[k, 1, 1], p[k, 2, 0], p[k, 2, 1]
        den = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy)
        if abs(den) < 1e-12:
            continue
        x0 = max(int(np.floor(min(ax, bx, cx) - 0.5)), 0)
        x1 = min(int(np.ceil(max(ax, bx, cx) - 0.5)), width - 1)
        y0 = max(int(np.floor(min(ay, by, cy) - 0.5)), 0)
        y1 = min(int(np.ceil(max(ay, by, cy) - 0.5)), height - 1)
        for y in range(y0, y1 + 1):
            gy = y + 0.5
            for x in range(x0, x1 + 1):
                gx = x + 0.5
                l0 = ((by - cy) * (gx - cx) + (cx - bx) * (gy - cy)) / den
                l1 = ((cy - ay) * (gx - cx) + (ax - cx) * (gy - cy)) / den
                l2 = 1.0 - l0 - l1
                if l0 >= -1e-9 and l1 >= -1e-9 and l2 >= -1e-9:
                    i = y * width + x
                    tri[i] = k
                    bary[i, 0], bary[i, 1], bary[i, 2] = l0, l1, l2


def _uv_raster(
    faces: np.ndarray, uv: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The texels whose centres lie in a UV triangle: ``(texel index (k,) = row * size + col,
    triangle (k,), barycentrics (k, 3))``."""
    p = np.ascontiguousarray(uv[faces] * size, dtype=np.float64)  # x = u, y = v (row)
    tri = np.full(size * size, -1, np.int64)
    bary = np.zeros((size * size, 3))
    _uv_raster_kernel(p, size, size, tri, bary)
    texel = np.flatnonzero(tri >= 0)
    return texel, tri[texel], bary[texel]


class ReferenceSurface:
    """Level 0 as a bake source: :meth:`locate` finds where a baking ray meets it, and
    :meth:`normals_at` and :meth:`colors_at` read its interpolated vertex normal and the colour
    it shows there. The ray of a point starts ``cage`` out along the coarse normal and runs
    inward for ``2 * cage`` (the cage of a baker), so it meets the level-0 surface that a viewer
    sees from outside near the point. Uses embree (``embreex``) when installed, else trimesh's
    intersector. ``mesh`` (level 0 with its colours: vertex, face or texture) is the colour
    source; without it there are no colours."""

    def __init__(
        self,
        vertices: np.ndarray,
        faces: np.ndarray,
        normals: np.ndarray,
        mesh: Mesh | None = None,
    ) -> None:
        self.vertices = np.asarray(vertices, np.float64)
        self.faces = np.asarray(faces, np.int64)
        self.normals = np.asarray(normals, np.float64)
        self.mesh = mesh
        self._covered: tuple[np.ndarray | None] | None = None
        tri = self.vertices[self.faces]
        self.face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        self.diagonal = float(np.linalg.norm(np.ptp(self.vertices, axis=0))) or 1.0
        self._tree: tuple[cKDTree, np.ndarray] | None = None
        self._shift = self.vertices.min(axis=0)
        try:
            from embreex import rtcore_scene
            from embreex.mesh_construction import TriangleMesh
        except ImportError:  # pragma: no cover - embreex ships with the x86-64 install
            self._scene = None
        else:
            self._scene = rtcore_scene.EmbreeScene()
            TriangleMesh(
                scene=self._scene,
                vertices=(self.vertices - self._shift).astype(np.float32),
                indices=self.faces.astype(np.int32),
            )

    def _cast(
        self, origins: np.ndarray, dirs: np.ndarray, length: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """(triangle hit or -1, (k, 3) barycentrics) of the first hits within ``length``."""
        k = len(origins)
        if self._scene is not None:
            hit = self._scene.run(
                np.ascontiguousarray((origins - self._shift).astype(np.float32)),
                np.ascontiguousarray(dirs.astype(np.float32)),
                dists=np.full(k, length, np.float32),
                output=1,
            )
            u, v = hit["u"].astype(np.float64), hit["v"].astype(np.float64)
            return hit["primID"].astype(np.int64), np.stack([1.0 - u - v, u, v], axis=1)
        import trimesh

        ref = trimesh.Trimesh(self.vertices, self.faces, process=False)
        tri, ray, loc = ref.ray.intersects_id(origins, dirs, multiple_hits=False, return_locations=True)
        near = np.linalg.norm(loc - origins[ray], axis=1) <= length
        prim = np.full(k, -1, np.int64)
        bary = np.zeros((k, 3))
        prim[ray[near]] = tri[near]
        bary[ray[near]] = trimesh.triangles.points_to_barycentric(
            self.vertices[self.faces[tri[near]]], loc[near]
        )
        return prim, bary

    def locate(
        self, points: np.ndarray, directions: np.ndarray, cage: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(face (k,), barycentrics (k, 3))`` on level 0 for coarse surface ``points`` with
        unit normals ``directions``: where the point's ray meets level 0, or for a ray that
        misses or first meets a face turned away, the nearest level-0 vertex (as a corner of
        one of its faces)."""
        prim, bary = self._cast(points + cage * directions, -directions, 2.0 * cage)
        good = prim >= 0
        good[good] &= np.einsum("ij,ij->i", self.face_normals[prim[good]], directions[good]) > 0
        face = np.where(good, prim, 0)
        bary = np.clip(np.where(good[:, None], bary, 0.0), 0.0, 1.0)
        if not good.all():
            if self._tree is None:
                corner = np.full(len(self.vertices), -1, np.int64)
                corner[self.faces.ravel()[::-1]] = np.arange(self.faces.size)[::-1]
                used = np.flatnonzero(corner >= 0)
                self._tree = (cKDTree(self.vertices[used]), corner[used])
            tree, corners = self._tree
            c = corners[tree.query(points[~good])[1]]  # face * 3 + corner
            face[~good] = c // 3
            bary[~good] = np.eye(3)[c % 3]
        return face, bary

    def colors_at(self, face: np.ndarray, bary: np.ndarray) -> np.ndarray | None:
        """(k, 3) float sRGB in [0, 1] that level 0 shows at ``(face, bary)``, or None."""
        if self.mesh is None:
            return None
        from voxforge.mesh.sample import surface_colors

        if self._covered is None:  # found once: every level's lookups share it
            self._covered = (_texture_coverage(self.mesh),)
        rgb = surface_colors(self.mesh, face, bary, self._covered[0])
        return None if rgb is None else np.asarray(rgb, np.float64)

    def normals_at(self, face: np.ndarray, bary: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """(k, 3) unit level-0 normals at ``(face, bary)`` (``directions`` where they vanish)."""
        out = np.einsum("kc,kcj->kj", bary, self.normals[self.faces[face]])
        length = np.linalg.norm(out, axis=1, keepdims=True)
        bad = length[:, 0] < 1e-12
        out[bad], length[bad] = directions[bad], 1.0
        return out / length


def _texture_coverage(mesh: Mesh) -> np.ndarray | None:
    """(h, w) bool: the texels of a textured mesh's image whose centres lie in one of its UV
    triangles, each wrapped into one period as lookups wrap (the rule and the wrapping of
    :func:`voxforge.mesh.sample.uv_coverage`, rasterized at compiled speed), or None without a
    texture."""
    from voxforge.mesh.sample import texture_and_uv

    found = texture_and_uv(mesh)
    if found is None:
        return None
    image, uv = found
    h, w = image.shape[:2]
    tri = uv[np.asarray(mesh.faces)]
    if len(tri) == 0 or (np.ptp(tri, axis=1) >= 1.0).any():
        return np.ones((h, w), dtype=bool)  # a tiled texture: some face spans all of it
    tri = tri - np.floor(tri.min(axis=1, keepdims=True))
    p = np.stack([tri[..., 0] * w, (1.0 - tri[..., 1]) * h], axis=-1)
    over_u, over_v = p[..., 0].max(axis=1) > w, p[..., 1].min(axis=1) < 0
    copies = [p, p[over_u] - (w, 0), p[over_v] + (0, h), p[over_u & over_v] + (-w, h)]
    ids = np.full(h * w, -1, np.int64)
    _uv_raster_kernel(np.ascontiguousarray(np.concatenate(copies)), h, w, ids, np.zeros((h * w, 3)))
    return (ids >= 0).reshape(h, w)


def bake_normal_map(
    vertices: np.ndarray,
    faces: np.ndarray,
    normals: np.ndarray,
    reference: ReferenceSurface,
    *,
    size: int = NORMAL_MAP_PX,
    cage: float = BAKE_CAGE,
) -> NormalMapped:
    """Unwrap the coarse mesh (``vertices``, ``faces``, unit vertex ``normals``) and bake the
    reference mesh's normals into a ``size`` square tangent-space normal map, and its colours
    (when it has them) into a base colour texture on the same UVs."""
    v = np.asarray(vertices, np.float64)
    vmap, f, uv = unwrap(v, faces, size)
    v, n = v[vmap], np.asarray(normals, np.float64)[vmap]
    tangents = vertex_tangents(v, f, uv, n)
    texel, tri, bary = _uv_raster(f, uv, size)
    image = np.zeros((size * size, 3))
    image[:] = (0.0, 0.0, 1.0)
    colors = None
    if len(texel):
        pos = np.einsum("kc,kcj->kj", bary, v[f[tri]])
        t, b, nn = _frames(f, tri, bary, n, tangents)
        where = reference.locate(pos, nn, cage * reference.diagonal)
        target = reference.normals_at(*where, nn)
        frame = np.stack([t, b, nn], axis=2)  # columns: the shading frame per texel
        coef = np.linalg.solve(frame, target[:, :, None])[:, :, 0]
        coef /= np.maximum(np.linalg.norm(coef, axis=1, keepdims=True), 1e-12)
        image[texel] = coef
        rgb = reference.colors_at(*where)
        if rgb is not None:
            colors = np.zeros((size * size, 3))
            colors[texel] = rgb
    covered = np.zeros(size * size, bool)
    covered[texel] = True
    normal_map = np.clip(np.rint((_gutters(image, covered, size) * 0.5 + 0.5) * 255.0), 0, 255)
    if colors is not None:
        colors = np.clip(np.rint(_gutters(colors, covered, size) * 255.0), 0, 255).astype(np.uint8)
    return NormalMapped(v, f, n, uv, tangents, normal_map.astype(np.uint8), colors)


def _gutters(values: np.ndarray, covered: np.ndarray, size: int) -> np.ndarray:
    """(size, size, C) image of per-texel ``values`` (size*size, C), the texels outside the
    charts filled from the nearest chart texel (so filtering and mipmaps do not bleed)."""
    grid = values.reshape(size, size, -1)
    if covered.any() and not covered.all():
        near = ndimage.distance_transform_edt(
            ~covered.reshape(size, size), return_distances=False, return_indices=True
        )
        grid = grid[near[0], near[1]]
    return grid


def sample_bilinear(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """(k, C) float texels of ``image`` (H, W, C) at glTF ``uv`` (k, 2), bilinear, edges
    clamped."""
    h, w = image.shape[:2]
    x = np.clip(uv[:, 0] * w - 0.5, 0.0, w - 1.0)
    y = np.clip(uv[:, 1] * h - 0.5, 0.0, h - 1.0)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    img = np.asarray(image, np.float64)
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def mip_chain(image: np.ndarray) -> list[np.ndarray]:
    """``image`` (H, W, C) and its mipmaps down to one texel: each the 2 x 2 box mean of the one
    before (an odd last row or column dropped), as a GPU's generated mipmaps."""
    levels = [np.asarray(image, np.float64)]
    while min(levels[-1].shape[:2]) > 1:
        a = levels[-1]
        a = a[: a.shape[0] // 2 * 2, : a.shape[1] // 2 * 2]
        levels.append(0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]))
    return levels


def sample_trilinear(mips: list[np.ndarray], uv: np.ndarray, texels_per_pixel: np.ndarray) -> np.ndarray:
    """(k, C) texels at glTF ``uv`` with ``LINEAR_MIPMAP_LINEAR`` filtering (the sampler the
    glTF writer sets): bilinear in the two mipmaps around ``log2(texels_per_pixel)`` (the
    pixel's footprint in level-0 texels), blended linearly."""
    lod = np.clip(np.log2(np.maximum(texels_per_pixel, 1e-12)), 0.0, len(mips) - 1.0)
    lo = np.floor(lod).astype(np.int64)
    frac = (lod - lo)[:, None]
    out = np.zeros((len(uv), mips[0].shape[2]))
    for level in np.unique(lo):
        sel = lo == level
        a = sample_bilinear(mips[level], uv[sel])
        b = sample_bilinear(mips[min(level + 1, len(mips) - 1)], uv[sel])
        out[sel] = a * (1.0 - frac[sel]) + b * frac[sel]
    return out


def shade_normals(
    faces: np.ndarray,
    tri: np.ndarray,
    bary: np.ndarray,
    normals: np.ndarray,
    uv: np.ndarray,
    tangents: np.ndarray,
    image: np.ndarray,
    texels_per_pixel: np.ndarray | None = None,
) -> np.ndarray:
    """(k, 3) unit shading normals of surface samples (triangle ``tri``, barycentrics ``bary``)
    of a normal-mapped mesh, as a glTF viewer computes them: the map read bilinearly, or with
    each sample's ``texels_per_pixel`` (its screen footprint) trilinearly from its mipmaps."""
    f = np.asarray(faces, np.int64)
    t, b, n = _frames(f, tri, bary, normals, tangents)
    st = np.einsum("kc,kcj->kj", bary, uv[f[tri]])
    if texels_per_pixel is None:
        texels = sample_bilinear(image, st)
    else:
        texels = sample_trilinear(mip_chain(image), st, texels_per_pixel)
    c = texels / 255.0 * 2.0 - 1.0
    out = c[:, 0:1] * t + c[:, 1:2] * b + c[:, 2:3] * n
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
