"""End-to-end targets of the foundation: read + clean + voxelize a 1M-point coloured PLY scene.

The scene (seeded): a 60 x 60 cm table sampled as a scanner would (about 70% of the points), a
12 cm mug-sized cylinder with a handle-like torus on it (about 28%), and 2% stray points. It is
written as a binary PLY and then read, cleaned (table found and removed, object isolated) and
voxelized at 32 studs, as `voxforge voxelize scene.ply --width-studs 32` does. Target: under 2 s
on 2 cores. Numba kernels are warmed up on a small cloud first (their one-off compile is reported
separately). Peak memory is the process's peak resident set size.

Usage: ``.venv/bin/python benchmarks/bench_pipeline.py``
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from voxforge.core.pointcloud import PointCloud
from voxforge.io import load_points, save_points
from voxforge.scan import CleanConfig, clean_scan
from voxforge.voxel import VoxelizeConfig, voxelize

SEED = 0
N = 1_000_000


def scene(n: int = N, seed: int = SEED) -> PointCloud:
    rng = np.random.default_rng(seed)
    n_table, n_obj = int(0.70 * n), int(0.28 * n)
    n_stray = n - n_table - n_obj
    table = np.c_[rng.uniform(-0.3, 0.3, (n_table, 2)), rng.normal(0, 0.001, n_table)]
    n_wall, n_handle = int(0.8 * n_obj), n_obj - int(0.8 * n_obj)
    t = rng.uniform(0, 2 * np.pi, n_wall)
    wall = np.c_[0.045 * np.cos(t), 0.045 * np.sin(t), rng.uniform(0, 0.12, n_wall)]
    u, v = rng.uniform(0, 2 * np.pi, (2, n_handle))
    r = 0.03 + 0.008 * np.cos(v)
    handle = np.c_[0.065 + r * np.cos(u) * 0.6, 0.008 * np.sin(v), 0.06 + r * np.sin(u)]
    obj = np.r_[wall, handle] + rng.normal(0, 0.0008, (n_obj, 3))
    stray = rng.uniform([-0.3, -0.3, 0.0], [0.3, 0.3, 0.4], (n_stray, 3))
    xyz = np.r_[table, obj, stray]
    rgb = np.r_[
        np.tile([0.55, 0.4, 0.25], (n_table, 1)),
        np.tile([0.8, 0.1, 0.1], (n_obj, 1)),
        rng.uniform(0, 1, (n_stray, 3)),
    ]
    return PointCloud(xyz=xyz, rgb=rgb)


def run(path: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    cloud = load_points(path)
    t1 = time.perf_counter()
    obj, _ = clean_scan(cloud, CleanConfig())
    t2 = time.perf_counter()
    grid = voxelize(obj, VoxelizeConfig(width_studs=32))
    t3 = time.perf_counter()
    return {
        "read_s": t1 - t0,
        "clean_s": t2 - t1,
        "voxelize_s": t3 - t2,
        "total_s": t3 - t0,
        "cells": grid.count,
        "studs": grid.size_report()["studs"],
        "object_points": len(obj),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.ply"
        save_points(scene(20_000, seed=1), small)
        c0 = time.perf_counter()
        run(small)  # numba compile / cache load
        warmup = time.perf_counter() - c0
        path = Path(tmp) / "scene.ply"
        save_points(scene(), path)
        runs = [run(path) for _ in range(3)]
    best = min(runs, key=lambda r: r["total_s"])
    median_total = float(np.median([r["total_s"] for r in runs]))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("| stage | best of 3 (s) |\n| --- | --- |")
    for k in ("read_s", "clean_s", "voxelize_s", "total_s"):
        print(f"| {k[:-2]} | {best[k]:.3f} |")
    print(
        f"\nmedian total {median_total:.3f} s (target < 2 s); warm-up {warmup:.2f} s; "
        f"peak RSS {peak_mb:.0f} MB; object {best['object_points']} points -> "
        f"{best['cells']} cells, {best['studs']} studs"
    )
    print(
        json.dumps(
            {
                "bench": "pipeline_1M",
                "median_total_s": median_total,
                "best": best,
                "warmup_s": warmup,
                "peak_rss_mb": peak_mb,
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
