"""Benchmark: read and fuse a 70-frame ARKit capture (the simulated mug-on-table scan).

The capture is generated with the phone LiDAR simulator into a temporary folder (not timed);
only ``load_capture`` (PNG/JPEG decoding, back-projection, colour lookup, voxel merge) is timed.
Target: under 10 s on 2 cores. The TSDF mesh path (``load_capture_mesh``, 4 mm) is timed once as
well, for reference. Prints one JSON object.

    .venv/bin/python benchmarks/bench_fuse.py [--frames 70] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from voxforge.io.arkit import load_capture, load_capture_mesh, write_capture
from voxforge.scan.examples import make_mug_scene
from voxforge.scan.sim import orbit_poses, simulate_capture


def make_capture(folder: Path, n_frames: int, seed: int = 0) -> float:
    """Simulate ``n_frames`` views on three rings around the mug; return the seconds it took."""
    t0 = time.perf_counter()
    rings = [(0.40, 20.0), (0.40, 40.0), (0.35, 65.0)]
    per_ring = np.array_split(np.arange(n_frames), len(rings))
    poses = []
    for (radius, elevation), idx in zip(rings, per_ring, strict=True):
        poses += orbit_poses((0.01, 0.0, 0.05), radius, elevation, len(idx), start_deg=elevation)
    frames = simulate_capture(make_mug_scene(), poses=poses, seed=seed)
    write_capture(frames, folder)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=70)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "capture"
        sim_s = make_capture(folder, args.frames)
        size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            cloud = load_capture(folder)
            times.append(time.perf_counter() - t0)
        tracemalloc.start()
        load_capture(folder)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        t0 = time.perf_counter()
        mesh = load_capture_mesh(folder, voxel_size=0.004)
        tsdf_s = time.perf_counter() - t0
    result = {
        "benchmark": "fuse",
        "frames": args.frames,
        "depth_pixels": args.frames * 256 * 192,
        "capture_mb": round(size_mb, 2),
        "points_out": len(cloud),
        "load_fuse_s_best": round(min(times), 3),
        "load_fuse_s_median": round(float(np.median(times)), 3),
        "frames_per_s": round(args.frames / min(times), 1),
        "peak_traced_mb": round(peak / 1e6, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "tsdf_mesh_s": round(tsdf_s, 2),
        "tsdf_faces": len(mesh.faces),
        "simulate_s": round(sim_s, 2),
        "target_s": 10.0,
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
