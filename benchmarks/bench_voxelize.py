"""Voxelize speed: a 100k-triangle coloured mesh at 32 and 64 studs, a 1M-point coloured cloud.

Targets (2 cores): mesh at 32 studs < 1 s, at 64 studs < 3 s, solid fill and colours included;
the cloud at 32 studs ~0.3 s (its share of a 2 s read + clean + voxelize budget).

numba kernels are compiled with ``cache=True``. To report the compile cost honestly this script
points ``NUMBA_CACHE_DIR`` at a fresh temporary folder, so the first call compiles from scratch;
that first call is timed separately (warm-up) and the figures below are the median of 3 warm runs.

Usage: ``.venv/bin/python benchmarks/bench_voxelize.py`` (prints markdown and a JSON line).
"""

from __future__ import annotations

import json
import os
import tempfile
import time

os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="voxforge-bench-numba-")

import numpy as np
import trimesh

from voxforge.core.mesh import Mesh
from voxforge.core.pointcloud import PointCloud
from voxforge.voxel import VoxelizeConfig, voxelize

SEED = 0


def noisy_torus() -> Mesh:
    """A 0.3 m torus of 100,000 triangles, vertex noise 0.5 mm, colour bands by angle (seeded)."""
    rng = np.random.default_rng(SEED)
    tm = trimesh.creation.torus(
        major_radius=0.1, minor_radius=0.04, major_sections=500, minor_sections=100
    )
    tm.vertices += rng.normal(scale=0.0005, size=tm.vertices.shape)
    angle = np.arctan2(tm.vertices[:, 1], tm.vertices[:, 0])
    hue = (np.sin(3 * angle) > 0)[:, None]
    tm.visual.vertex_colors = np.where(hue, [200, 30, 30, 255], [30, 60, 200, 255]).astype(np.uint8)
    return Mesh(tm=tm)


def noisy_cloud(n: int = 1_000_000) -> PointCloud:
    """A scan-like cloud: 1M points on a 0.2 m sphere with 1 mm noise and colour by height."""
    rng = np.random.default_rng(SEED)
    d = rng.normal(size=(n, 3))
    xyz = 0.1 * d / np.linalg.norm(d, axis=1, keepdims=True) + rng.normal(scale=0.001, size=(n, 3))
    rgb = np.c_[(xyz[:, 2] + 0.1) * 5, np.full(n, 0.5), 1 - (xyz[:, 2] + 0.1) * 5].clip(0, 1)
    return PointCloud(xyz=xyz, rgb=rgb.astype(np.float32))


def timed(obj: Mesh | PointCloud, config: VoxelizeConfig, runs: int = 3) -> dict[str, object]:
    t0 = time.perf_counter()
    grid = voxelize(obj, config)
    first = time.perf_counter() - t0
    times, stages = [], {}
    for _ in range(runs):
        marks: list[tuple[str, float]] = []
        t0 = time.perf_counter()
        grid = voxelize(obj, config, progress=lambda s, f, m=marks: m.append((s, time.perf_counter())))
        times.append(time.perf_counter() - t0)
        stages = _stage_times(t0, marks)
    return {
        "first_call_s": round(first, 3),
        "median_s": round(float(np.median(times)), 3),
        "stages_s": stages,
        "shape": list(grid.shape),
        "filled": grid.count,
        "fill": grid.meta["fill"],
        "samples": grid.meta.get("samples", grid.meta.get("points")),
    }


def _stage_times(t0: float, marks: list[tuple[str, float]]) -> dict[str, float]:
    """Seconds from each stage's first report to the next stage's first report."""
    firsts: dict[str, float] = {}
    for s, t in marks:
        firsts.setdefault(s, t)
    names = list(firsts)
    ends = [firsts[n] for n in names[1:]] + [marks[-1][1]]
    out = {"setup": round(firsts[names[0]] - t0, 3)}
    out.update({n: round(e - firsts[n], 3) for n, e in zip(names, ends, strict=True)})
    return out


TARGETS = {
    "voxelize": {
        "mesh_100k_tri_32_studs.median_s": "< 1 s",
        "mesh_100k_tri_64_studs.median_s": "< 3 s",
        "cloud_1M_pts_32_studs.median_s": "~0.3 s",
    }
}


def figures(argv: list[str] | None = None) -> dict:
    """Time the three cases; print a markdown table and a JSON line; return the results."""
    mesh = noisy_torus()
    cloud = noisy_cloud()
    results = {
        "mesh_100k_tri_32_studs": timed(mesh, VoxelizeConfig(width_studs=32)),
        "mesh_100k_tri_64_studs": timed(mesh, VoxelizeConfig(width_studs=64)),
        "cloud_1M_pts_32_studs": timed(cloud, VoxelizeConfig(width_studs=32)),
    }
    print("| case | first call (compile) s | warm median s | grid | filled | stages s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        shape = "×".join(map(str, r["shape"]))
        stages = ", ".join(f"{k} {v}" for k, v in r["stages_s"].items())
        print(f"| {name} | {r['first_call_s']} | {r['median_s']} | {shape} | {r['filled']} | {stages} |")
    print()
    print(json.dumps({"cores": os.cpu_count(), **results}))
    return results


def main() -> None:
    figures()


if __name__ == "__main__":
    main()
