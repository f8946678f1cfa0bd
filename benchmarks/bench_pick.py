"""Benchmark: does the default pick find the object a person scanned, in cluttered scenes?

Simulates ``--scenes`` seeded scans (:func:`voxforge.scan.sim_scenes.cluttered_scene`: an object
on a table or on the floor, clutter, a second table in half of them, flat or uneven ground up to
3 cm, a 1-2 cm speck just in front of the object, a partial orbit of 8-14 phone LiDAR frames)
and runs ``clean_scan`` with its defaults. A pick is right when at least 80% of its points lie in
the scanned object's box (2 cm slack) and its largest side is at least 60% of the object's. With
``--modelnet`` (the shared ModelNet10 voxel file) half of the shapes are ModelNet objects.

With the ModelNet file, ``--furniture`` more scans are of one ModelNet shape each, 50 cm to 1 m,
standing on a floor and seen from one side and from up to 1.6 m away
(:func:`voxforge.scan.sim_scenes.furniture_scene`), the way a person scans a chair or a table;
they are scored the same way, and also by whether the pick keeps 80% of the object's height.

    python benchmarks/bench_pick.py [--scenes 40] [--seed 1000] [--modelnet PATH] [--furniture 40]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from voxforge.scan import clean_scan
from voxforge.scan.sim_scenes import SimScene, cluttered_scene, furniture_scene

DEFAULT_MODELNET = (
    Path(os.environ.get("VOXFORGE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    / "modelnet10_vox30_train.npz"
)


def right_pick(scene: SimScene, out_xyz: np.ndarray, transform: np.ndarray) -> tuple[bool, float, float]:
    """(right, share of picked points in the object's box, picked / object largest side)."""
    inv = np.linalg.inv(transform)
    pts = out_xyz @ inv[:3, :3].T + inv[:3, 3]
    lo, hi = scene.target
    share = float(np.all((pts >= lo - 0.02) & (pts <= hi + 0.02), axis=1).mean())
    ratio = float(np.ptp(pts, axis=0).max() / np.ptp(scene.target, axis=0).max())
    return share >= 0.8 and ratio >= 0.6, share, ratio


def furniture(path: Path, n: int, seed: int) -> dict:
    """Right picks, and picks that keep 80% of the height, over ``n`` furniture scans."""
    with np.load(path) as data:
        order = np.random.default_rng(seed).choice(len(data["labels"]), 3 * n, replace=False)
        grids = [g for g in (data["voxels"][i] for i in np.sort(order)) if g.any()][:n]
    right, tall, misses = 0, 0, []
    for k, grid in enumerate(grids):
        scene = furniture_scene(grid, seed + k)
        out, report = clean_scan(scene.cloud)
        ok = right_pick(scene, out.xyz, report.transform)[0]
        inv = np.linalg.inv(report.transform)
        height = np.ptp(out.xyz @ inv[2, :3] + inv[2, 3]) / np.ptp(scene.target[:, 2])
        right += ok
        tall += ok and height >= 0.8
        if not ok:
            misses.append({**scene.facts, "picked_cm": report.pick["chosen"]["size_cm"],
                           "object_cm": _cm(scene.target)})  # fmt: skip
    return {"scenes": len(grids), "right": right, "rate": round(right / max(len(grids), 1), 3),
            "height_kept": round(tall / max(len(grids), 1), 3), "misses": misses}  # fmt: skip


def _cm(box: np.ndarray) -> list[float]:
    return np.round(np.ptp(box, axis=0) * 100).tolist()


QUICK = {"pick": ["--scenes", "10", "--furniture", "10"]}
TARGETS = {"pick": {"rate": ">= 0.95 (#19)"}}


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--modelnet", type=Path, default=None, help="ModelNet10 voxel npz (shapes)")
    ap.add_argument("--furniture", type=int, default=40, help="furniture scans (needs ModelNet)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    grids = None
    path = args.modelnet or (DEFAULT_MODELNET if DEFAULT_MODELNET.exists() else None)
    if path is not None:
        with np.load(path) as data:
            rng = np.random.default_rng(args.seed)
            pick = np.sort(rng.choice(len(data["labels"]), 60, replace=False))
            grids = data["voxels"][pick]
    rows = []
    for i in range(args.scenes):
        seed = args.seed + i
        t0 = time.perf_counter()
        scene = cluttered_scene(seed, grids=grids)
        t_sim = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            out, report = clean_scan(scene.cloud)
            ok, share, ratio = right_pick(scene, out.xyz, report.transform)
            pick = report.pick or {}
            note = "" if ok else f"picked {pick['chosen']['size_cm']} of {_cm(scene.target)}"
            warn = bool(pick.get("warnings"))
        except Exception as e:  # a failed scene counts as a miss, with its reason
            ok, share, ratio, note, warn = False, 0.0, 0.0, f"{type(e).__name__}: {e}", False
        t_clean = time.perf_counter() - t0
        cpu_clean = time.process_time() - c0
        rows.append(
            {
                "seed": seed,
                **scene.facts,
                "points": len(scene.cloud),
                "right": ok,
                "share": round(share, 3),
                "ratio": round(ratio, 3),
                "warned": warn,
                "sim_s": round(t_sim, 2),
                "clean_s": round(t_clean, 2),
                "clean_cpu_s": round(cpu_clean, 2),
                "note": note,
            }
        )
    right = sum(r["right"] for r in rows)
    result = {
        "scenes": len(rows),
        "right": right,
        "rate": round(right / max(len(rows), 1), 3),
        "modelnet_shapes": grids is not None,
        "clean_s_median": float(np.median([r["clean_s"] for r in rows])),
        "clean_s_max": float(np.max([r["clean_s"] for r in rows])),
        "clean_cpu_s_median": float(np.median([r["clean_cpu_s"] for r in rows])),
        "clean_cpu_s_max": float(np.max([r["clean_cpu_s"] for r in rows])),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "sim_s_median": float(np.median([r["sim_s"] for r in rows])),
        "points_median": int(np.median([r["points"] for r in rows])),
        "warned_right": sum(r["warned"] and r["right"] for r in rows),
        "warned_wrong": sum(r["warned"] and not r["right"] for r in rows),
        "misses": [r for r in rows if not r["right"]],
        "threads": os.environ.get("OMP_NUM_THREADS", "all"),
    }
    if path is not None and args.furniture > 0:
        result["furniture"] = furniture(path, args.furniture, args.seed)
    if args.json:
        print(json.dumps(result | {"rows": rows}, indent=2))
        return result
    print(
        f"right object in {right}/{len(rows)} simulated cluttered scenes ({100 * result['rate']:.1f}%), "
        f"ModelNet shapes: {'yes' if grids is not None else 'no'}"
    )
    print(
        f"clean_scan per scene: median {result['clean_s_median']:.2f} s, "
        f"max {result['clean_s_max']:.2f} s wall; CPU median {result['clean_cpu_s_median']:.2f} s, "
        f"max {result['clean_cpu_s_max']:.2f} s "
        f"({result['points_median']:,} points median); simulation median {result['sim_s_median']:.2f} s"
    )
    print(f"warnings: {result['warned_right']} on right picks, {result['warned_wrong']} on wrong picks")
    print(f"load average {result['load_average_1min']} (wall times are upper bounds under load)")
    if "furniture" in result:
        f = result["furniture"]
        kept = 100 * f["height_kept"]
        print(f"furniture seen from one side: right object in {f['right']}/{f['scenes']} "
              f"({100 * f['rate']:.1f}%), {kept:.1f}% keeping 80% of the height")  # fmt: skip
    for r in result["misses"]:
        print(f"  miss seed {r['seed']} ({r['setting']}, uneven {r['uneven_m']} m): {r['note']}")
    return result


def main() -> None:
    figures()


if __name__ == "__main__":
    main()
