"""The builder's verdict on real inputs: margin, pieces, held parts, prefixes, ``buildable``.

Runs the whole brickify pipeline (no booklets, build order planned) on the demo mug scan, the
shared meshes (five Thingi10K ones included), the milk-carton scan, the Kinect table scene, a
simulated 70-frame 3D Scanner App capture and a seeded sample of ModelNet10 grids, and prints one row
per input: parts, stability margin (``1 - max stress / capacity``), separate pieces, whether
every prefix of the build order stands, parts to hold by hand, ``buildable`` at the safety
margin, and seconds.

Usage: ``.venv/bin/python benchmarks/bench_verdict.py [--studs 32] [--modelnet 6] [--only NAME]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]


ROBUST_CLEAN = ("37620", "43860", "52135", "53429", "93071")
"""Five of the shared Thingi10K meshes in good order (the first of their folder, by name)."""


def inputs(modelnet: int, capture: bool = True) -> list[tuple[str, Path]]:
    """(name, path) of every input at hand; ModelNet10 grids are written to a temp folder."""
    out = [("mug scan", REPO / "examples" / "mug_scan.ply")]
    for name in ("teapot.obj", "spot.obj", "Duck.glb", "fuze.obj"):
        out.append((name, DATA / "meshes" / name))
    out.append(("milk_color.pcd", DATA / "scans" / "milk_color.pcd"))
    out.append(("Kinect table scene", DATA / "scans" / "milk_cartoon_all_small_clorox.pcd"))
    out.append(("featuretype.STL", DATA / "meshes" / "featuretype.STL"))
    for stem in ROBUST_CLEAN:
        out.append((f"thingi {stem}", DATA / "meshes" / "robustness" / "clean" / f"{stem}.stl"))
    if capture:
        from bench_pipeline import write_mug_capture

        folder = Path(tempfile.mkdtemp(prefix="bench_verdict_capture_"))
        out.append(("3D Scanner App capture (simulated)", write_mug_capture(folder / "capture")))
    if modelnet:
        from voxforge.io import load_voxel_dataset

        ds = load_voxel_dataset(DATA / "modelnet10_vox30_train.npz")
        rng = np.random.default_rng(0)
        tmp = Path(tempfile.mkdtemp(prefix="bench_verdict_"))
        picks = rng.choice(np.flatnonzero(ds.voxels.reshape(len(ds.voxels), -1).any(1)), modelnet, False)
        for i in sorted(int(i) for i in picks):
            path = tmp / f"{ds.classes[ds.labels[i]]}_{i}.npy"
            np.save(path, ds.voxels[i].astype(bool))
            out.append((path.stem, path))
    return [(n, p) for n, p in out if p.exists()]


def run_one(path: Path, studs: int, safety: float | None) -> dict[str, Any]:
    from voxforge.pipelines.brickify import BrickifyConfig, run_brickify

    cfg: dict[str, Any] = {
        "voxel": {"width_studs": studs},
        "classify": False,
        "instructions": {"formats": []},
        "build_order": True,  # no booklets, but the steps are planned and checked
    }
    if safety is not None:
        cfg["physics"] = {"safety_margin": safety}
    from voxforge.core.errors import VoxforgeError

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        try:
            res = run_brickify(path, Path(tmp) / "o", BrickifyConfig.model_validate(cfg))
        except VoxforgeError as e:  # refused as a user would see it (e.g. over the part budget)
            return {"parts": None, "physics": None, "margin": None, "pieces": None,
                    "prefixes_stable": None, "held_problems": None, "buildable": False,
                    "reasons": [f"refused: {e}"], "support_parts": None,
                    "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip
        dt = time.perf_counter() - t0
    s = res.summary
    stab, conn, ins = s["stability"] or {}, s["connectivity"], s.get("instructions") or {}
    verdict = s.get("verdict") or {}
    held = [p for p in ins.get("problems", []) if "held" in p.get("reason", "")]
    return {
        "parts": s["parts"]["total"],
        "physics": stab.get("verdict"),
        "margin": stab.get("margin"),
        "pieces": conn.get("n_components"),
        "prefixes_stable": ins.get("prefixes_stable"),
        "held_problems": len(held),
        "buildable": verdict.get("buildable"),
        "reasons": verdict.get("reasons"),
        "support_parts": s["layout"].get("support_parts"),
        "seconds": round(dt, 1),
    }


QUICK = {"verdict": ["--modelnet", "2", "--no-capture"]}


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--studs", type=int, default=32)
    ap.add_argument("--modelnet", type=int, default=6, help="ModelNet10 grids to add (seed 0)")
    ap.add_argument("--safety-margin", type=float, default=None)
    ap.add_argument("--only", default=None, help="run only inputs whose name contains this")
    ap.add_argument("--no-capture", action="store_true", help="skip the simulated phone capture")
    args = ap.parse_args(argv)
    rows = []
    print("| input | parts | physics | margin | pieces | prefixes stand | held | buildable | s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_pipeline's capture writer
    for name, path in inputs(args.modelnet, capture=not args.no_capture):
        if args.only and args.only not in name:
            continue
        r = run_one(path, args.studs, args.safety_margin)
        r["input"] = name
        rows.append(r)
        m = "-" if r["margin"] is None else f"{r['margin']:.3f}"
        print(
            f"| {name} | {r['parts']} | {r['physics']} | {m} | {r['pieces']} | "
            f"{r['prefixes_stable']} | {r['held_problems']} | {r['buildable']} | {r['seconds']} |",
            flush=True,
        )
    print(json.dumps({"bench": "verdict", "rows": rows}, default=str))
    return {"studs": args.studs, "inputs": rows}


def main() -> None:
    figures()


if __name__ == "__main__":
    main()
