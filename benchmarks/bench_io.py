"""Reader/writer speed on generated inputs (seeded); prints one JSON object.

The headline is reading a 1M-point coloured binary PLY, part of the "read + clean + voxelize
under 2 s" target: it must stay well under 0.5 s.

    .venv/bin/python benchmarks/bench_io.py [--points 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from voxforge.core import PointCloud, VoxelGrid
from voxforge.io import load_points, load_voxels, save_points, save_voxels


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Fastest wall time of ``repeat`` calls, seconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def make_cloud(n: int, seed: int = 0) -> PointCloud:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 3)).astype(np.float32)
    return PointCloud(
        xyz=rng.uniform(-0.5, 0.5, (n, 3)),
        rgb=rng.random((n, 3), dtype=np.float32),
        normals=v / np.linalg.norm(v, axis=1, keepdims=True),
    )


QUICK = {"io": ["--repeat", "2"]}


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    n, rep = args.points, args.repeat
    cloud = make_cloud(n)
    colour_only = PointCloud(xyz=cloud.xyz, rgb=cloud.rgb)
    results: dict[str, object] = {"points": n, "python": platform.python_version()}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        cases = {
            "ply_binary_xyz_rgb": (d / "c.ply", colour_only, {}),
            "ply_binary_xyz_rgb_normals": (d / "cn.ply", cloud, {}),
            "pcd_binary": (d / "c.pcd", colour_only, {"encoding": "binary"}),
            "pcd_binary_compressed": (d / "cc.pcd", colour_only, {"encoding": "binary_compressed"}),
        }
        for name, (path, obj, opts) in cases.items():
            write_s = best_of(lambda p=path, o=obj, k=opts: save_points(o, p, **k), 1)
            read_s = best_of(lambda p=path: load_points(p), rep)
            results[name] = {
                "read_s": round(read_s, 4),
                "write_s": round(write_s, 4),
                "mb": round(path.stat().st_size / 1e6, 1),
                "read_mpts_per_s": round(n / read_s / 1e6, 1),
            }
        small = PointCloud(xyz=colour_only.xyz[:100_000], rgb=colour_only.rgb[:100_000])
        for name, path, kw in (
            ("ply_ascii_100k", d / "a.ply", {"ascii": True}),
            ("xyz_text_100k", d / "a.xyz", {}),
        ):
            save_points(small, path, **kw)
            results[name] = {"read_s": round(best_of(lambda p=path: load_points(p), 2), 4)}
        rng = np.random.default_rng(1)
        grid = VoxelGrid(
            occupancy=rng.random((128, 128, 128)) < 0.2,
            colors=rng.random((128, 128, 128, 3), dtype=np.float32),
        )
        path = d / "g.npz"
        results["npz_voxels_128^3"] = {
            "write_s": round(best_of(lambda: save_voxels(grid, path), 1), 4),
            "read_s": round(best_of(lambda: load_voxels(path), 2), 4),
        }
    print(json.dumps(results, indent=2))
    return results


def main() -> None:
    figures()


if __name__ == "__main__":
    main()
