"""Benchmark: read and fuse a 70-frame capture (the simulated mug-on-table scan) in every layout.

The capture is generated with the phone LiDAR simulator into a temporary folder (not timed) and
written in each app's layout: 3D Scanner App (colour JPEG on every third frame, as the app keeps),
Stray Scanner (depth PNGs + rgb.mp4 + odometry.csv), Record3D (.r3d zip, LZFSE depth) and a
Record3D PLY sequence (one coloured point cloud per frame). Only reading and fusing is timed
(``voxforge.scan.capture.load_capture``: decoding, back-projection, colour lookup, voxel merge).
Target: under 5 s per layout on 2 cores. The TSDF mesh path (``load_capture_mesh``, 4 mm) is
timed once on the full-colour ARKit folder, for reference.
Prints one JSON object.

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

from voxforge.io.arkit import write_capture
from voxforge.io.record3d import write_ply_sequence, write_r3d
from voxforge.io.stray import write_stray
from voxforge.scan.capture import load_capture, load_capture_mesh
from voxforge.scan.examples import make_mug_scene
from voxforge.scan.fuse import frames_as_point_clouds
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
    for i, f in enumerate(frames):
        f.time = i / 60.0
    write_capture(frames, folder)
    write_capture(frames, folder.parent / "scanner-app", color_every=3)
    write_stray(frames, folder.parent / "stray")
    write_r3d(frames, folder.parent / "capture.r3d")
    write_ply_sequence(frames_as_point_clouds(frames), folder.parent / "ply-sequence", pad=5)
    return time.perf_counter() - t0


def time_layouts(root: Path, repeats: int) -> dict[str, dict[str, float]]:
    """Best and median wall seconds (and best CPU seconds of this process, which a shared machine
    does not inflate) to read and fuse each layout, with its point count."""
    out = {}
    for name in ("scanner-app", "stray", "capture.r3d", "ply-sequence"):
        times, cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            cloud = load_capture(root / name)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        out[cloud.meta["format"]] = {
            "load_fuse_s_best": round(min(times), 3),
            "cpu_s_best": round(min(cpu), 3),
            "load_fuse_s_median": round(float(np.median(times)), 3),
            "points_out": len(cloud),
            "color_frames": cloud.meta["capture"]["color_frames"],
        }
    return out


QUICK = {"fuse": ["--repeats", "1"]}
TARGETS = {"fuse": {"load_fuse_s_median": "< 5 s (#19)", "layouts.load_fuse_s_median": "< 5 s (#19)"}}


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=70)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
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
        layouts = time_layouts(folder.parent, args.repeats)
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
        "layouts": layouts,
        "tsdf_mesh_s": round(tsdf_s, 2),
        "tsdf_faces": len(mesh.faces),
        "simulate_s": round(sim_s, 2),
        "target_s": 5.0,
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    return result


def main() -> None:
    figures()


if __name__ == "__main__":
    main()
