"""Levels of detail by quadric decimation, each with its measured geometric and rendered error.

:func:`build_lod` decimates level 0 to each target face count with ``fast-simplification``
(Garland-Heckbert quadrics) and measures every level against level 0 from seeded surface
samples: the symmetric Hausdorff distance and the Chamfer distance (mean of both directions'
mean nearest-sample distances), both as a fraction of level 0's bounding diagonal. With
``views`` it also rasterizes each level with the project's renderer from that many cameras
around level 0 (azimuths evenly spread, elevations alternating +25 and -25 degrees) and
reports the silhouette IoU with level 0: the worst view (``silhouette_iou``) and the mean
(``silhouette_iou_mean``).
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
    iou0 = 1.0 if cameras else None
    out = [(mesh, LodLevel(0, len(f0), len(v0), len(f0), 0.0, 0.0, 0.0, iou0, iou0))]
    for i, target in enumerate(level_targets(len(f0), levels, faces), start=1):
        t = time.perf_counter()
        v, f = fast_simplification.simplify(v0, f0, target_count=target)
        seconds = time.perf_counter() - t
        tm = trimesh.Trimesh(v, f, process=False)
        ious = [_iou(m, _silhouette(v, f, cam)) for m, cam in zip(ref_masks, cameras, strict=True)]
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
