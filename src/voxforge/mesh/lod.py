"""Levels of detail by quadric decimation, each with its measured geometric and rendered error.

:func:`build_lod` decimates level 0 to each target face count with ``fast-simplification``
(Garland-Heckbert quadrics) and measures every level against level 0 from seeded surface
samples: the symmetric Hausdorff distance and the Chamfer distance (mean of both directions'
mean nearest-sample distances), both as a fraction of level 0's bounding diagonal. With
``views`` it also rasterizes each level with the project's renderer from that many cameras
around level 0 (azimuths evenly spread, elevations alternating +25 and -25 degrees) and
reports the silhouette IoU with level 0: the worst view (``silhouette_iou``) and the mean
(``silhouette_iou_mean``), and the structural similarity (SSIM, ``skimage.metrics``) of the
grey smooth-shaded renders from the same cameras: worst view (``ssim``) and mean (``ssim_mean``).
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
) -> list[tuple[Mesh, LodLevel]]:
    """Level 0 (``mesh``) then one decimated mesh per target, each with its :class:`LodLevel`."""
    import time

    import fast_simplification

    mesh.validate()
    v0 = np.asarray(mesh.vertices, dtype=np.float64)
    f0 = np.asarray(mesh.faces, dtype=np.int64)
    diag = float(np.linalg.norm(np.ptp(v0, axis=0))) or 1.0
    ref = _samples(mesh.tm, samples, seed)
    ref_tree = cKDTree(ref)
    cameras = _cameras(v0, views)
    ref_masks = [_silhouette(v0, f0, cam) for cam in cameras]
    ref_shaded = [_shaded(v0, f0, cam) for cam in cameras]
    one = 1.0 if cameras else None
    out = [(mesh, LodLevel(0, len(f0), len(v0), len(f0), 0.0, 0.0, 0.0, one, one, one, one))]
    for i, target in enumerate(level_targets(len(f0), levels, faces), start=1):
        t = time.perf_counter()
        v, f = fast_simplification.simplify(v0, f0, target_count=target)
        seconds = time.perf_counter() - t
        tm = trimesh.Trimesh(v, f, process=False)
        ious = [_iou(m, _silhouette(v, f, cam)) for m, cam in zip(ref_masks, cameras, strict=True)]
        ssims = [_ssim(g, _shaded(v, f, cam)) for g, cam in zip(ref_shaded, cameras, strict=True)]
        pts = _samples(tm, samples, seed + i)
        d_ab = cKDTree(pts).query(ref)[0]
        d_ba = ref_tree.query(pts)[0]
        level = LodLevel(
            level=i,
            faces=len(f),
            vertices=len(v),
            target_faces=target,
            hausdorff=float(max(d_ab.max(), d_ba.max()) / diag),
            chamfer=float(0.5 * (d_ab.mean() + d_ba.mean()) / diag),
            seconds=round(seconds, 4),
            silhouette_iou=min(ious) if ious else None,
            silhouette_iou_mean=float(np.mean(ious)) if ious else None,
            ssim=min(ssims) if ssims else None,
            ssim_mean=float(np.mean(ssims)) if ssims else None,
        )
        out.append((Mesh(tm=tm, meta=dict(mesh.meta)), level))
    return out


def _samples(tm: trimesh.Trimesh, n: int, seed: int) -> np.ndarray:
    """``n`` area-uniform surface points plus the vertices (so thin parts are never missed)."""
    pts, _ = trimesh.sample.sample_surface(tm, n, seed=seed)
    return np.concatenate([np.asarray(pts), np.asarray(tm.vertices)])


def _cameras(vertices: np.ndarray, views: int) -> list[Any]:
    """``views`` framing cameras around the level-0 vertices."""
    from voxforge.render.camera import framing_camera

    return [
        framing_camera(vertices, SILHOUETTE_PX, 360.0 * k / views, 25.0 if k % 2 == 0 else -25.0)
        for k in range(views)
    ]


def _silhouette(vertices: np.ndarray, faces: np.ndarray, camera: Any) -> np.ndarray:
    """(H, W) bool: pixels any triangle covers (back faces too: decimation may flip some)."""
    from voxforge.render.raster import rasterize

    return rasterize(vertices, faces, camera, cull_backfaces=False).triangle >= 0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _shaded(vertices: np.ndarray, faces: np.ndarray, camera: Any) -> np.ndarray:
    """(H, W) grey levels in [0, 255] of a smooth-shaded render, as glTF viewers show a mesh with
    vertex normals: the area-weighted vertex normals interpolated per pixel (screen-space
    barycentrics, exact for the orthographic framing cameras) and lit by a headlight (ambient
    0.25 plus 0.75 times the absolute cosine), white background."""
    from voxforge.render.raster import project, rasterize

    tm = trimesh.Trimesh(vertices, faces, process=False)
    normals = np.asarray(tm.vertex_normals)
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
    n = np.einsum("kc,kcj->kj", np.stack([b0, b1, b2], axis=1), normals[np.asarray(faces)[t]])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    view_dir = camera.rotation[2]  # the view's z axis, toward the camera
    out[ys, xs] = 255.0 * (0.25 + 0.75 * np.abs(n @ view_dir)) * 0.7
    return out


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, data_range=255.0))


def lod_glb(meshes: list[Mesh], coverage: list[float] | None = None) -> bytes:
    """One GLB holding every level: level 0 is the scene's node, and its ``MSFT_lod`` extension
    lists the nodes of the coarser levels (with ``MSFT_screencoverage`` in its extras, the
    screen share below which each next level shows). Y-up with linear vertex colours, as
    :func:`voxforge.io.meshes.export_mesh` writes a single GLB."""
    import json
    import struct

    from voxforge.io.meshes import export_mesh

    scene = trimesh.Scene()
    for i, m in enumerate(meshes):
        single = export_mesh(m.tm, "glb")  # Y-up, linear colours
        part = trimesh.load(
            trimesh.util.wrap_as_stream(single), file_type="glb", force="mesh", process=False
        )
        scene.add_geometry(part, node_name=f"lod{i}", geom_name=f"lod{i}")
    data = scene.export(file_type="glb")
    n = struct.unpack_from("<I", data, 12)[0]
    doc = json.loads(data[20 : 20 + n])
    rest = data[20 + n :]
    names = [node.get("name") for node in doc["nodes"]]
    ids = [names.index(f"lod{i}") for i in range(len(meshes))]
    doc["scenes"][doc.get("scene", 0)]["nodes"] = [ids[0]]
    if len(ids) > 1:
        cov = coverage or [0.5 / 4**i for i in range(len(ids))]
        root = doc["nodes"][ids[0]]
        root.setdefault("extensions", {})["MSFT_lod"] = {"ids": ids[1:]}
        root.setdefault("extras", {})["MSFT_screencoverage"] = cov[: len(ids)]
        doc["extensionsUsed"] = sorted(set(doc.get("extensionsUsed", [])) | {"MSFT_lod"})
    text = json.dumps(doc, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text + rest
    return b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body
