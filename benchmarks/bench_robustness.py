"""Inputs that never crash: every shared mesh and scan, and cropped ModelNet10 grids, end in an
output or one clear refusal (a voxforge error), never an internal error.

Runs ``voxelize`` (``--job voxelize``, 16 studs) or ``brickify --instructions none``
(``--job brickify``, 12 studs, classifier off) over ``meshes/robustness/*/*.stl`` (80 Thingi10K
meshes), the other files in ``meshes/`` and ``scans/``, and ``--cropped K`` ModelNet10 grids cut
to their filled box (an even draw over the classes, seed 18) saved as ``.npy``. Prints one line
per input and the counts: ok / refused / internal.

Usage: ``.venv/bin/python benchmarks/bench_robustness.py [--job voxelize|brickify] [--cropped 20]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np

from voxforge.core.config import build_config
from voxforge.core.errors import VoxforgeError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MESH_SUFFIXES = {".obj", ".glb", ".stl", ".ply", ".off"}
SCAN_SUFFIXES = {".pcd", ".las", ".laz", ".xyz", ".ply"}


def inputs(cropped: int, folder: Path) -> list[Path]:
    """The shared meshes and scans, then ``cropped`` cropped ModelNet10 grids written to ``folder``."""
    files = sorted((DATA / "meshes" / "robustness").glob("*/*.stl"))
    files += sorted(p for p in (DATA / "meshes").iterdir() if p.suffix.lower() in MESH_SUFFIXES)
    files += sorted(p for p in (DATA / "scans").iterdir() if p.suffix.lower() in SCAN_SUFFIXES)
    if cropped:
        data = np.load(DATA / "modelnet10_vox30_train.npz")
        voxels, labels, classes = data["voxels"], data["labels"], data["classes"]
        rng = np.random.default_rng(18)
        per = max(cropped // len(classes), 1)
        for k in range(len(classes)):
            for i in rng.choice(np.flatnonzero(labels == k), per, replace=False):
                idx = np.argwhere(voxels[i])
                lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
                path = folder / f"{classes[k]}_{i}.npy"
                np.save(path, voxels[i][lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]])
                files.append(path)
    return files


def run_one(job: str, path: Path, out: Path) -> None:
    if job == "voxelize":
        from voxforge.pipelines.voxelize import VoxelizeJobConfig, run_voxelize

        cfg = VoxelizeJobConfig.model_validate({"voxel": {"width_studs": 16}, "preview_size": 64})
        run_voxelize(path, out, cfg)
    else:
        from voxforge.pipelines.brickify import BrickifyConfig, run_brickify

        overrides = {
            "voxel": {"width_studs": 12},
            "instructions": {"formats": "none"},
            "classify": False,
            "preview_size": 64,
        }
        run_brickify(path, out, build_config(BrickifyConfig, overrides))


QUICK = {"robustness": ["--cropped", "5"]}


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", choices=["voxelize", "brickify"], default="voxelize")
    parser.add_argument("--cropped", type=int, default=20)
    args = parser.parse_args(argv)
    counts: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i, path in enumerate(inputs(args.cropped, folder)):
            t0 = time.perf_counter()
            try:
                run_one(args.job, path, folder / f"out{i}")
                result, message = "ok", ""
            except VoxforgeError as err:
                result, message = "refused", str(err)
            except Exception as err:  # what this benchmark hunts for
                result, message = "internal", f"{type(err).__name__}: {err}"
                traceback.print_exc()
            counts[result] += 1
            name = path.relative_to(DATA) if path.is_relative_to(DATA) else path.name
            print(f"{result:9s} {time.perf_counter() - t0:6.1f} s  {name}  {message[:160]}", flush=True)
    total = sum(counts.values())
    print(f"{args.job}: {total} inputs: {counts['ok']} ok, {counts['refused']} refused, "
          f"{counts['internal']} internal errors")  # fmt: skip
    return {"job": args.job, "inputs": total, **{k: counts[k] for k in ("ok", "refused", "internal")}}


def main() -> None:
    figures()


if __name__ == "__main__":
    main()
