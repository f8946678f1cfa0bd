"""Levels of detail by quadric decimation, each with its measured geometric and rendered error.

:func:`build_lod` welds level 0's coincident vertices (UV and normal seams split a surface into
pieces the decimator would tear apart) and decimates the welded surface to each target face
count with ``fast-simplification`` (Garland-Heckbert quadrics; :func:`decimate` runs it on the
surface scaled to a fixed size, at a low aggressiveness, which keeps the shape better, and
repeats it until the count is met). Each level gets vertex normals transferred from level 0
(:func:`transfer_normals`: the mean of the nearest level-0 normals that face the same way),
stored as the level's trimesh ``vertex_normals``, which the exporters write (glTF ``NORMAL``,
OBJ ``vn``, PLY ``nx ny nz``): a coarse level then shades like the smooth original, as
production LOD tools ship it. Vertex normals cannot carry the detail between a coarse level's
vertices, so the levels of at most :data:`NORMAL_MAP_MAX_FACES` faces also get a tangent-space
normal map baked from level 0 (:mod:`voxforge.mesh.normalmap`), the way game engines' low LODs
keep their shading: the level's vertices are split at its UV chart seams and its trimesh visual
holds the UVs and a PBR material whose ``normalTexture`` is the map (glTF ``normalTexture`` and
``TANGENT``, OBJ ``norm``, USD ``normal``). A level keeps the colours level 0 shows (vertex or
face colours, or a texture): read where each vertex's baking ray meets level 0, as vertex
colours, or on a normal-mapped level baked into a base colour texture on the map's UVs.

Every level is measured against level 0 from seeded surface samples: the symmetric Hausdorff
distance and the Chamfer distance (mean of both directions' mean nearest-sample distances), both
as a fraction of level 0's bounding diagonal. With ``views`` it also rasterizes each level with
the project's renderer from that many cameras around level 0 (azimuths evenly spread, elevations
alternating +25 and -25 degrees) and reports the silhouette IoU with level 0: the worst view
(``silhouette_iou``) and the mean (``silhouette_iou_mean``), and the structural similarity
(SSIM, ``skimage.metrics``) of the grey smooth-shaded renders from the same cameras, each level
lit with the vertex normals and the normal map it ships (:func:`shading` reads them from the
level's mesh as an exporter does): worst view (``ssim``) and mean (``ssim_mean``).
:func:`lod_glb` writes the chain into one GLB with the ``MSFT_lod`` extension.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from voxforge.core.errors import ConfigError
from voxforge.core.mesh import Mesh

ERROR_SAMPLES = 20_000
SILHOUETTE_PX = 160
DECIMATE_AGG = 4.0
"""fast-simplification's aggressiveness for the first passes (its default 7 loses more shape)."""
DECIMATE_PASSES = 3
"""Passes at :data:`DECIMATE_AGG` before a last pass at the default aggressiveness."""
DECIMATE_STUCK = 0.1
"""A pass that removes less than this share of the faces above the target ends the decimation
(the decimator refuses the collapses left; more passes would only cost time)."""
DECIMATE_DIAGONAL = 5.0
"""The bounding diagonal a surface is scaled to before decimation: fast-simplification's
collapse thresholds are absolute squared distances, so without it the result depends on the
units the mesh is in (the value was chosen on the shared meshes' 500- and 2000-face levels)."""
NORMAL_NEIGHBOURS = 8
"""Level-0 vertices whose normals :func:`transfer_normals` averages per vertex."""
NORMAL_MAP_MAX_FACES = 4096
"""Levels with at most this many faces get a normal map baked from level 0 (their triangles are
large enough on screen that vertex normals lose level 0's shading)."""


@dataclass
class LodLevel:
    """One level: its mesh and its error against level 0 (fractions of the bounding diagonal)."""

    level: int
    faces: int
    vertices: int
    target_faces: int
    hausdorff: float
    chamfer: float
    seconds: float
    silhouette_iou: float | None = None
    silhouette_iou_mean: float | None = None
    ssim: float | None = None
    ssim_mean: float | None = None
    normal_map_px: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def level_targets(n_faces: int, levels: int | None = None, faces: list[int] | None = None) -> list[int]:
    """Target face counts below level 0: explicit ``faces``, or ``levels - 1`` quarterings."""
    if faces:
        targets = sorted({int(f) for f in faces}, reverse=True)
        if targets[-1] < 4:
            raise ConfigError("--faces values must be at least 4")
        return [t for t in targets if t < n_faces]
    levels = 4 if levels is None else levels
    if levels < 1 or levels > 12:
        raise ConfigError(f"--levels must be between 1 and 12, got {levels}")
    return [t for i in range(1, levels) if (t := n_faces // 4**i) >= 4]


def build_lod(
    mesh: Mesh,
    *,
    levels: int | None = None,
    faces: list[int] | None = None,
    seed: int = 0,
    samples: int = ERROR_SAMPLES,
    views: int = 8,
    normals: bool = True,
    normal_maps: int = NORMAL_MAP_MAX_FACES,
) -> list[tuple[Mesh, LodLevel]]:
    """Level 0 (``mesh``) then one decimated mesh per target, each with its :class:`LodLevel`.

    With ``normals`` (the default) each level carries normals transferred from level 0;
    without, its own smooth normals (what a viewer computes from the coarse faces). With
    ``normals``, a level of at most ``normal_maps`` faces (0: none) also gets a tangent-space
    normal map baked from level 0 (:func:`voxforge.mesh.normalmap.bake_normal_map`, side
    :func:`normal_map_px`), carried as the mesh's UVs and its PBR material's normal texture;
    the renders that measure it are shaded with that map."""
    import time

    from voxforge.mesh import normalmap

    mesh.validate()
    v0 = np.asarray(mesh.vertices, dtype=np.float64)
    f0 = np.asarray(mesh.faces, dtype=np.int64)
    n0 = shipped_normals(mesh.tm)
    diag = float(np.linalg.norm(np.ptp(v0, axis=0))) or 1.0
    ref = _samples(mesh.tm, samples, seed)
    ref_tree = cKDTree(ref)
    cameras = _cameras(v0, views)
    ref_masks = [_silhouette(v0, f0, cam) for cam in cameras]
    look0 = shading(mesh.tm)
    ref_shaded = [_shaded(*look0, cam) for cam in cameras]
    one = 1.0 if cameras else None
    out = [(mesh, LodLevel(0, len(f0), len(v0), len(f0), 0.0, 0.0, 0.0, one, one, one, one))]
    targets = level_targets(len(f0), levels, faces)
    t = time.perf_counter()
    vw, fw = weld(v0, f0) if targets else (v0, f0)
    normal_tree = cKDTree(v0) if normals and targets else None
    shared = time.perf_counter() - t  # the weld and the tree count toward the first level
    reference: normalmap.ReferenceSurface | None = None
    colored = normal_tree is not None and _has_colors(mesh)
    stuck: tuple[np.ndarray, np.ndarray, trimesh.Trimesh, int] | None = None
    for i, target in enumerate(targets, start=1):
        t = time.perf_counter()
        if stuck is not None:  # the decimator stopped above the last target: so it does here
            v, f, tm, px = stuck
        else:
            v, f = decimate(vw, fw, target)
            vn = (
                transfer_normals(v0, n0, v, f, tree=normal_tree)
                if normal_tree is not None
                else _area_normals(v, f)
            )
            px = 0
            baked = normal_tree is not None and len(f) <= normal_maps
            if reference is None and (baked or colored):  # built once, counted toward this level
                reference = normalmap.ReferenceSurface(v0, f0, n0, mesh if colored else None)
            if baked:
                assert reference is not None
                px = normal_map_px(len(f))
                tm = _mapped_mesh(normalmap.bake_normal_map(v, f, vn, reference, size=px))
            else:
                rgb = _vertex_colors(reference, v, vn) if colored else None
                tm = trimesh.Trimesh(v, f, vertex_colors=rgb, process=False)
                tm.vertex_normals = vn  # kept in trimesh's cache; the exporters write it
            stuck = (v, f, tm, px) if len(f) > target * 1.1 else None
        seconds = time.perf_counter() - t + (shared if i == 1 else 0.0)
        look = shading(tm)
        ious = [_iou(m, _silhouette(v, f, cam)) for m, cam in zip(ref_masks, cameras, strict=True)]
        ssims = [_ssim(g, _shaded(*look, cam)) for g, cam in zip(ref_shaded, cameras, strict=True)]
        pts = _samples(tm, samples, seed + i)
        d_ab = cKDTree(pts).query(ref)[0]
        d_ba = ref_tree.query(pts)[0]
        level = LodLevel(
            level=i,
            faces=len(f),
            vertices=len(tm.vertices),  # as shipped: split at the normal map's UV seams
            target_faces=target,
            hausdorff=float(max(d_ab.max(), d_ba.max()) / diag),
            chamfer=float(0.5 * (d_ab.mean() + d_ba.mean()) / diag),
            seconds=round(seconds, 4),
            silhouette_iou=min(ious) if ious else None,
            silhouette_iou_mean=float(np.mean(ious)) if ious else None,
            ssim=min(ssims) if ssims else None,
            ssim_mean=float(np.mean(ssims)) if ssims else None,
            normal_map_px=px,
        )
        out.append((Mesh(tm=tm, meta=dict(mesh.meta)), level))
    return out


def weld(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coincident vertices merged (by position alone) and unreferenced ones dropped."""
    tm = trimesh.Trimesh(vertices, faces, process=False)
    tm.merge_vertices()
    tm.remove_unreferenced_vertices()
    return np.asarray(tm.vertices, dtype=np.float64), np.asarray(tm.faces, dtype=np.int64)


def normal_map_px(faces: int) -> int:
    """Side of a level's normal map: the power of two at or above ``8 * sqrt(faces)``, 64 to
    1024 (about 130 texels per triangle; 256 for 500 faces, 512 for 2000)."""
    side = 8.0 * float(np.sqrt(max(faces, 1)))
    return int(min(max(2 ** int(np.ceil(np.log2(side))), 64), 1024))


def _has_colors(mesh: Mesh) -> bool:
    """Whether level 0 shows colours (vertex, face or texture) that the levels should keep."""
    from voxforge.mesh.sample import surface_colors

    return surface_colors(mesh, np.zeros(1, np.int64), np.full((1, 3), 1.0 / 3.0)) is not None


def _vertex_colors(reference: Any, vertices: np.ndarray, normals: np.ndarray) -> np.ndarray | None:
    """(n, 4) uint8 sRGB vertex colours of a level: the colour level 0 shows where each
    vertex's baking ray meets it (:meth:`~voxforge.mesh.normalmap.ReferenceSurface.locate`)."""
    from voxforge.mesh.normalmap import BAKE_CAGE

    where = reference.locate(vertices, normals, BAKE_CAGE * reference.diagonal)
    rgb = reference.colors_at(*where)
    if rgb is None:
        return None
    out = np.full((len(vertices), 4), 255, np.uint8)
    out[:, :3] = np.clip(np.rint(rgb * 255.0), 0, 255)
    return out


def _mapped_mesh(baked: Any) -> trimesh.Trimesh:
    """A trimesh of a :class:`~voxforge.mesh.normalmap.NormalMapped` level: its normals set,
    its UVs (trimesh's convention, origin at the image's bottom left) and a PBR material whose
    normal texture is the baked map, and base colour texture the baked colours if any (the
    exporters write them: glTF ``normalTexture`` and ``baseColorTexture``)."""
    from PIL import Image

    uv = baked.uv.copy()
    uv[:, 1] = 1.0 - uv[:, 1]
    material = trimesh.visual.material.PBRMaterial(
        name="lod",
        normalTexture=Image.fromarray(baked.image, "RGB"),
        baseColorTexture=None if baked.colors is None else Image.fromarray(baked.colors, "RGB"),
    )
    tm = trimesh.Trimesh(
        baked.vertices,
        baked.faces,
        visual=trimesh.visual.TextureVisuals(uv=uv, material=material),
        process=False,
    )
    tm.vertex_normals = baked.normals
    return tm


def normal_map_of(tm: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray] | None:
    """``(glTF uv (n, 2), image (H, W, 3) uint8)`` of a mesh whose material carries a normal
    texture and whose UVs cover its vertices, else None."""
    visual = tm.visual
    image = getattr(getattr(visual, "material", None), "normalTexture", None)
    uv = getattr(visual, "uv", None)
    if image is None or uv is None or len(uv) != len(tm.vertices):
        return None
    st = np.asarray(uv, dtype=np.float64).copy()
    st[:, 1] = 1.0 - st[:, 1]
    return st, np.asarray(image.convert("RGB"), dtype=np.uint8)


def shading(tm: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """``(vertices, faces, normals, normal map or None)`` as an export of ``tm`` shades: the
    normals it ships and, with a normal texture, ``(uv, tangents, image)`` with the glTF
    tangents the writer computes (:func:`voxforge.core.tangents.vertex_tangents`)."""
    from voxforge.core.tangents import vertex_tangents

    v = np.asarray(tm.vertices, dtype=np.float64)
    f = np.asarray(tm.faces, dtype=np.int64)
    n = shipped_normals(tm)
    mapped = normal_map_of(tm)
    if mapped is None:
        return v, f, n, None
    uv, image = mapped
    return v, f, n, (uv, vertex_tangents(v, f, uv, n), image)


def decimate(vertices: np.ndarray, faces: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``target`` faces by quadric decimation: up to :data:`DECIMATE_PASSES` passes at
    :data:`DECIMATE_AGG` (a gentle schedule that may stop short of the count), then one at the
    library's default aggressiveness if the count is still above ``target``. A surface the
    decimator cannot reduce much further (a pass removes less than :data:`DECIMATE_STUCK` of
    the excess: sliver triangles of CAD meshes) is returned above the target; the level's
    ``faces`` then says so. The surface is
    decimated scaled to :data:`DECIMATE_DIAGONAL` and scaled back."""
    centre = np.asarray(vertices, dtype=np.float64).mean(axis=0)
    scale = DECIMATE_DIAGONAL / (float(np.linalg.norm(np.ptp(vertices, axis=0))) or 1.0)
    v, f = _decimate_scaled((np.asarray(vertices, dtype=np.float64) - centre) * scale, faces, target)
    return v / scale + centre, f


def _decimate_scaled(
    vertices: np.ndarray, faces: np.ndarray, target: int
) -> tuple[np.ndarray, np.ndarray]:
    import fast_simplification

    v, f = vertices, faces
    for k in range(DECIMATE_PASSES + 1):  # the last pass at the library's default
        before = len(f)
        kwargs = {"agg": DECIMATE_AGG} if k < DECIMATE_PASSES else {}
        v, f = fast_simplification.simplify(v, f, target_count=target, **kwargs)
        if len(f) <= target or before - len(f) < DECIMATE_STUCK * (before - target):
            break  # met, or stuck: nearly every collapse left would flip or degenerate a face
    return v, f


def shipped_normals(tm: trimesh.Trimesh) -> np.ndarray:
    """(n, 3) unit vertex normals an export of ``tm`` carries: the ones set on it (trimesh's
    cached ``vertex_normals``), else the area-weighted face normals a writer computes. Reads
    without caching anything on ``tm``."""
    v = np.asarray(tm.vertices, dtype=np.float64)
    if "vertex_normals" in tm._cache.cache:
        n = np.asarray(tm.vertex_normals, dtype=np.float64)
        if n.shape == v.shape and np.isfinite(n).all():
            return _unit(n)
    return _area_normals(v, np.asarray(tm.faces, dtype=np.int64))


def transfer_normals(
    ref_vertices: np.ndarray,
    ref_normals: np.ndarray,
    vertices: np.ndarray,
    faces: np.ndarray,
    *,
    k: int = NORMAL_NEIGHBOURS,
    tree: cKDTree | None = None,
) -> np.ndarray:
    """(n, 3) unit normals for ``vertices`` taken from the reference surface: the inverse-distance
    weighted mean of the normals of the ``k`` nearest reference vertices, leaving out those that
    face away from the coarse surface there (the other side of a thin part); a vertex with none
    left keeps its own area-weighted normal."""
    own = _area_normals(vertices, faces)
    tree = cKDTree(ref_vertices) if tree is None else tree
    k = min(k, len(ref_vertices))
    dist, idx = tree.query(vertices, k=k)
    dist, idx = dist.reshape(len(vertices), k), idx.reshape(len(vertices), k)
    near = np.asarray(ref_normals, dtype=np.float64)[idx]  # (n, k, 3)
    weight = (np.einsum("nkj,nj->nk", near, own) > 0.0) / np.maximum(dist, 1e-12)
    n = np.einsum("nk,nkj->nj", weight, near)
    length = np.linalg.norm(n, axis=1)
    good = length > 1e-9
    out = own.copy()
    out[good] = n[good] / length[good, None]
    return out


def _area_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (unit; +z where a vertex has no area around it)."""
    tri = np.asarray(vertices, dtype=np.float64)[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    vn = np.zeros((len(vertices), 3))
    for c in range(3):
        np.add.at(vn, faces[:, c], fn)
    return _unit(vn)


def _unit(n: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(n, axis=1, keepdims=True)
    out = np.divide(n, length, out=np.zeros_like(n), where=length > 0)
    out[length[:, 0] == 0] = (0.0, 0.0, 1.0)
    return out


def _samples(tm: trimesh.Trimesh, n: int, seed: int) -> np.ndarray:
    """``n`` area-uniform surface points plus the vertices (so thin parts are never missed)."""
    pts, _ = trimesh.sample.sample_surface(tm, n, seed=seed)
    return np.concatenate([np.asarray(pts), np.asarray(tm.vertices)])


def screen_coverage(levels: int) -> list[float]:
    """The default ``MSFT_screencoverage`` of a chain: level ``i`` shows while the model covers
    less than ``0.5 / 4**(i-1)`` of the screen (a quarter of the area per level, as the faces)."""
    return [0.5 / 4**i for i in range(levels)]


def _cameras(vertices: np.ndarray, views: int, px: int = SILHOUETTE_PX) -> list[Any]:
    """``views`` framing cameras (``px`` square) around the level-0 vertices."""
    from voxforge.render.camera import framing_camera

    return [
        framing_camera(vertices, px, 360.0 * k / views, 25.0 if k % 2 == 0 else -25.0)
        for k in range(views)
    ]


def _silhouette(vertices: np.ndarray, faces: np.ndarray, camera: Any) -> np.ndarray:
    """(H, W) bool: pixels any triangle covers (back faces too: decimation may flip some)."""
    from voxforge.render.raster import rasterize

    return rasterize(vertices, faces, camera, cull_backfaces=False).triangle >= 0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _shaded(
    vertices: np.ndarray,
    faces: np.ndarray,
    normals: np.ndarray,
    normal_map: Any,
    camera: Any,
) -> np.ndarray:
    """(H, W) grey levels in [0, 255] of a smooth-shaded render, as glTF viewers show a mesh with
    vertex normals: ``normals`` (the ones the level ships) interpolated per pixel (screen-space
    barycentrics, exact for the orthographic framing cameras), or with ``normal_map`` (``(uv,
    tangents, image)``, see :func:`shading`) the normal map's normal in the interpolated
    tangent frame (trilinear lookup in its mipmaps, as the glTF sampler asks), lit by a
    headlight (ambient 0.25 plus 0.75 times the absolute cosine), white background."""
    from voxforge.render.raster import project, rasterize

    normals = np.asarray(normals, dtype=np.float64)
    tri = rasterize(vertices, faces, camera, cull_backfaces=False).triangle
    out = np.full(tri.shape, 255.0)
    ys, xs = np.nonzero(tri >= 0)
    if len(ys) == 0:
        return out
    t = tri[ys, xs]
    p = project(vertices, camera)[:, :2][np.asarray(faces)[t]]  # (k, 3, 2)
    q = np.stack([xs + 0.5, ys + 0.5], axis=1)
    e1, e2, d = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], q - p[:, 0]
    den = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    den = np.where(np.abs(den) < 1e-12, 1e-12, den)
    b1 = np.clip((d[:, 0] * e2[:, 1] - d[:, 1] * e2[:, 0]) / den, 0.0, 1.0)
    b2 = np.clip((e1[:, 0] * d[:, 1] - e1[:, 1] * d[:, 0]) / den, 0.0, 1.0)
    b0 = np.clip(1.0 - b1 - b2, 0.0, 1.0)
    bary = np.stack([b0, b1, b2], axis=1)
    if normal_map is not None:
        from voxforge.mesh.normalmap import shade_normals

        bary /= np.maximum(bary.sum(axis=1, keepdims=True), 1e-12)
        n = shade_normals(
            faces, t, bary, normals, *normal_map, _texels_per_pixel(p, normal_map, faces, t)
        )
    else:
        n = np.einsum("kc,kcj->kj", bary, normals[np.asarray(faces)[t]])
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    view_dir = camera.rotation[2]  # the view's z axis, toward the camera
    out[ys, xs] = 255.0 * (0.25 + 0.75 * np.abs(n @ view_dir)) * 0.7
    return out


def _texels_per_pixel(
    screen: np.ndarray, normal_map: Any, faces: np.ndarray, tri: np.ndarray
) -> np.ndarray:
    """(k,) the footprint of each pixel in level-0 texels of the normal map, from its triangle's
    screen-to-UV map (constant per triangle under the orthographic cameras): the longer of the
    UV steps one pixel right and one pixel down (OpenGL's mipmap level rule)."""
    uv, _, image = normal_map
    st = uv[np.asarray(faces)[tri]]  # (k, 3, 2)
    e = np.stack([screen[:, 1] - screen[:, 0], screen[:, 2] - screen[:, 0]], axis=2)  # (k, 2, 2)
    u = np.stack([st[:, 1] - st[:, 0], st[:, 2] - st[:, 0]], axis=2)
    det = e[:, 0, 0] * e[:, 1, 1] - e[:, 0, 1] * e[:, 1, 0]
    det = np.where(np.abs(det) < 1e-12, 1e-12, det)
    inv = (
        np.stack([[e[:, 1, 1], -e[:, 0, 1]], [-e[:, 1, 0], e[:, 0, 0]]]).transpose(2, 0, 1)
        / det[:, None, None]
    )
    jac = (
        np.einsum("kij,kjl->kil", u, inv) * np.array(image.shape[1::-1], dtype=np.float64)[None, :, None]
    )
    return np.maximum(np.linalg.norm(jac[:, :, 0], axis=1), np.linalg.norm(jac[:, :, 1], axis=1))


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, data_range=255.0))


def lod_glb(meshes: list[Mesh], coverage: list[float] | None = None) -> bytes:
    """One GLB holding every level: level 0 is the scene's node, and its ``MSFT_lod`` extension
    lists the nodes of the coarser levels (with ``MSFT_screencoverage`` in its extras, the
    screen share below which each next level shows). Each level is the glTF asset that
    :func:`voxforge.io.mesh_export.export_mesh` writes for it alone (Y-up, linear colours, its
    own vertex normals as ``NORMAL``), merged into one buffer."""
    import json
    import struct

    doc: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "voxforge"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [],
    }
    blob = bytearray()
    for i, m in enumerate(meshes):
        part, data = _single_glb(m)
        _merge_gltf(doc, blob, part, data, f"lod{i}")
    ids = list(range(len(meshes)))
    if len(ids) > 1:
        cov = coverage or screen_coverage(len(ids))
        root = doc["nodes"][0]
        root.setdefault("extensions", {})["MSFT_lod"] = {"ids": ids[1:]}
        root.setdefault("extras", {})["MSFT_screencoverage"] = cov[: len(ids)]
        doc["extensionsUsed"] = ["MSFT_lod"]
    blob += b"\0" * (-len(blob) % 4)
    doc["buffers"] = [{"byteLength": len(blob)}]
    text = json.dumps(doc, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text
    body += struct.pack("<II", len(blob), 0x004E4942) + bytes(blob)
    return b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body


def _single_glb(mesh: Mesh) -> tuple[dict[str, Any], bytes]:
    """The JSON and binary chunk of ``mesh`` written alone as GLB by the mesh exporter."""
    import json
    import struct
    import tempfile
    from pathlib import Path

    from voxforge.io.mesh_export import export_mesh

    with tempfile.TemporaryDirectory(prefix="voxforge-lod-") as tmp:
        data = export_mesh(mesh, Path(tmp) / "level.glb").read_bytes()
    n = struct.unpack_from("<I", data, 12)[0]
    m = struct.unpack_from("<I", data, 20 + n)[0]
    return json.loads(data[20 : 20 + n]), data[28 + n : 28 + n + m]


def _merge_gltf(
    doc: dict[str, Any], blob: bytearray, part: dict[str, Any], data: bytes, name: str
) -> None:
    """Append ``part``'s (one node, one mesh) arrays to ``doc`` and its buffer to ``blob``,
    shifting every index it holds; the node is named ``name``."""
    keys = ("accessors", "bufferViews", "materials", "meshes", "images", "samplers", "textures")
    base = {k: len(doc.get(k, [])) for k in keys}
    blob += b"\0" * (-len(blob) % 8)
    offset = len(blob)
    blob += data
    for bv in part.get("bufferViews", []):
        bv["byteOffset"] = bv.get("byteOffset", 0) + offset
    for acc in part.get("accessors", []):
        acc["bufferView"] += base["bufferViews"]
    for img in part.get("images", []):
        img["bufferView"] += base["bufferViews"]
    for tex in part.get("textures", []):
        tex["source"] += base["images"]
        if "sampler" in tex:
            tex["sampler"] += base["samplers"]
    for mat in part.get("materials", []):
        for ref in (
            mat.get("pbrMetallicRoughness", {}).get("baseColorTexture"),
            mat.get("normalTexture"),
        ):
            if ref is not None:
                ref["index"] += base["textures"]
    for mesh in part.get("meshes", []):
        mesh["name"] = name
        for prim in mesh["primitives"]:
            prim["attributes"] = {k: a + base["accessors"] for k, a in prim["attributes"].items()}
            prim["indices"] += base["accessors"]
            if "material" in prim:
                prim["material"] += base["materials"]
    for k in keys:
        if part.get(k):
            doc.setdefault(k, []).extend(part[k])
    node = dict(part["nodes"][part["scenes"][part.get("scene", 0)]["nodes"][0]])
    node["mesh"] += base["meshes"]
    node["name"] = name
    doc["nodes"].append(node)
