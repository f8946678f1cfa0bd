"""Levels of detail by quadric decimation, each with its measured geometric error.

:func:`build_lod` decimates level 0 to each target face count with ``fast-simplification``
(Garland-Heckbert quadrics) and measures every level against level 0 from seeded surface
samples: the symmetric Hausdorff distance and the Chamfer distance (mean of both directions'
mean nearest-sample distances), both as a fraction of level 0's bounding diagonal.
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
    out = [(mesh, LodLevel(0, len(f0), len(v0), len(f0), 0.0, 0.0, 0.0))]
    for i, target in enumerate(level_targets(len(f0), levels, faces), start=1):
        t = time.perf_counter()
        v, f = fast_simplification.simplify(v0, f0, target_count=target)
        seconds = time.perf_counter() - t
        tm = trimesh.Trimesh(v, f, process=False)
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
        )
        out.append((Mesh(tm=tm, meta=dict(mesh.meta)), level))
    return out


def _samples(tm: trimesh.Trimesh, n: int, seed: int) -> np.ndarray:
    """``n`` area-uniform surface points plus the vertices (so thin parts are never missed)."""
    pts, _ = trimesh.sample.sample_surface(tm, n, seed=seed)
    return np.concatenate([np.asarray(pts), np.asarray(tm.vertices)])
