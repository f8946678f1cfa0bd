"""Buildability and speed of the brick engine on real shapes (ModelNet10 training voxels).

For a seeded, class-stratified sample of ModelNet10 shapes (from ``../shared/data``), each
30^3 cubic grid is resampled onto the LEGO lattice at 32 studs (proportions kept), laid out
with the default strategy (stability repair loop on) and checked with the physics LP. Reported:
the share that comes out stable AND one stud-connected grounded component (target >= 99%), the
share that also keeps the safety margin (``1 - max stress >= 0.2``, what ``brickify`` calls
buildable; the repair loop works towards it as in ``brickify``),
bricks per filled cell, share of seams sitting on seams, distinct part kinds, and the time of
layout + physics per shape (target < 2 s at 32 studs). A few shapes are also timed at 64 studs
(target < 20 s), and the Utah teapot mesh goes through the whole brickify pipeline at 32 studs.

Usage: ``.venv/bin/python benchmarks/bench_bricks.py [--per-class 10] [--big 4]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from voxforge.bricks.connectivity import connectivity_report
from voxforge.bricks.lay import LayoutConfig, lay_bricks, seam_alignment
from voxforge.bricks.physics.stability import PhysicsConfig, analyze_stability
from voxforge.bricks.verdict import DEFAULT_SAFETY_MARGIN
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.io import load_voxel_dataset
from voxforge.voxel import VoxelizeConfig
from voxforge.voxel.resample import resample_grid

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SEED = 0
SAFETY = DEFAULT_SAFETY_MARGIN
PHYSICS = PhysicsConfig(safety_margin=SAFETY)  # as brickify checks


def sample(labels: np.ndarray, per_class: int, seed: int = SEED) -> list[int]:
    rng = np.random.default_rng(seed)
    out: list[int] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        out += rng.choice(idx, min(per_class, len(idx)), replace=False).tolist()
    return out


def build(vox: np.ndarray, studs: int) -> dict:
    grid = resample_grid(VoxelGrid(vox.astype(bool), pitch=1.0 / 30), VoxelizeConfig(width_studs=studs))
    codes = np.where(grid.occupancy, 71, -1).astype(np.int32)
    checked: dict[tuple, object] = {}

    def stability(model: object) -> object:
        # like brickify: the verdict the repair loop reached on the final model is reused
        key = tuple(model.placements)  # type: ignore[attr-defined]
        if key not in checked:
            checked.clear()
            checked[key] = analyze_stability(model, PHYSICS)  # type: ignore[arg-type]
        return checked[key]

    t0 = time.perf_counter()
    model, report = lay_bricks(grid, codes, LayoutConfig(), stability=stability, target_margin=SAFETY)
    t1 = time.perf_counter()
    stab = stability(model)
    t2 = time.perf_counter()
    conn = connectivity_report(model)
    return {
        "cells": int(grid.count),
        "parts": len(model),
        "added_cells": int(report.added_cells),
        "stable": bool(stab.stable),
        "connected": bool(conn.connected),
        "grounded": bool(conn.grounded),
        "buildable": bool(stab.stable and conn.connected and conn.grounded),
        "margin": float(stab.margin),
        # the builder's verdict without a build order: one grounded piece, margin >= safety
        "safe": bool(stab.stable and conn.connected and conn.grounded and stab.margin >= SAFETY - 1e-6),
        "seams": float(seam_alignment(model)),
        "kinds": len({p.part for p in model.placements}),
        # the repair loop's physics counts as physics, not layout
        "layout_s": t1 - t0 - report.timings_s.get("stability", 0.0),
        "physics_s": report.timings_s.get("stability", 0.0) + t2 - t1,
        "total_s": t2 - t0,
    }


def teapot() -> dict | None:
    path = DATA / "meshes" / "teapot.obj"
    if not path.is_file():
        return None
    from voxforge.pipelines.brickify import BrickifyConfig, run_brickify

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_brickify(path, Path(tmp) / "o", BrickifyConfig())
        dt = time.perf_counter() - t0
    s = res.summary
    return {
        "total_s": dt,
        "parts": s["parts"]["total"],
        "verdict": s["stability"]["verdict"],
        "connected": s["connectivity"]["connected"],
        "timings_s": s["timings_s"],
    }


QUICK = {"bricks": ["--per-class", "2", "--big", "2", "--no-teapot"]}
TARGETS = {
    "bricks": {
        "summary_32_studs.buildable (stable + connected + grounded)": ">= 99%",
        "summary_32_studs.shapes up to 20k cells under 2 s": "100%",
        "shapes_64_studs.total_s": "< 20 s",
    }
}


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=10)
    ap.add_argument("--big", type=int, default=4, help="shapes also built at 64 studs")
    ap.add_argument(
        "--big-per-class",
        type=int,
        default=0,
        help="instead of --big: this many shapes per class at 64 studs (their own draw, seed 1)",
    )
    ap.add_argument("--no-teapot", action="store_true", help="skip the whole-pipeline teapot run")
    args = ap.parse_args(argv)
    ds = load_voxel_dataset(DATA / "modelnet10_vox30_train.npz")
    picks = sample(ds.labels, args.per_class)
    empty = [i for i in picks if not ds.voxels[i].any()]  # a few training grids hold nothing
    picks = [i for i in picks if i not in empty]
    build(ds.voxels[picks[0]], 8)  # warm numba caches
    rows = []
    for i in picks:
        r = build(ds.voxels[i], 32)
        r["index"], r["class"] = int(i), str(ds.classes[ds.labels[i]])
        rows.append(r)
    n = len(rows)
    t = np.array([r["total_s"] for r in rows])
    cells = [r["cells"] for r in rows]
    small = np.array(cells) <= 20_000
    table = {
        "buildable (stable + connected + grounded)": f"{np.mean([r['buildable'] for r in rows]):.1%}",
        "stable": f"{np.mean([r['stable'] for r in rows]):.1%}",
        f"buildable with margin >= {SAFETY}": f"{np.mean([r['safe'] for r in rows]):.1%}",
        "margin (min / median)": (
            f"{min(r['margin'] for r in rows):.3f} / {np.median([r['margin'] for r in rows]):.3f}"
        ),
        "connected and grounded": f"{np.mean([r['connected'] and r['grounded'] for r in rows]):.1%}",
        "parts per filled cell": f"{sum(r['parts'] for r in rows) / sum(cells):.4f}",
        "seams on seams (median)": f"{np.median([r['seams'] for r in rows]):.3f}",
        "distinct kinds (median)": f"{np.median([r['kinds'] for r in rows]):.0f}",
        "cells per shape (median / max)": f"{np.median(cells):.0f} / {max(cells)}",
        "layout + physics s (median / p90 / max)": (
            f"{np.median(t):.2f} / {np.percentile(t, 90):.2f} / {t.max():.2f}"
        ),
        "shapes under 2 s": f"{np.mean(t < 2.0):.1%}",
        # the target's scope: "a 32-stud model (up to about 20k cells)"
        "shapes up to 20k cells under 2 s": (
            f"{np.mean(t[small] < 2.0):.1%} of {int(small.sum())}" if small.any() else "none"
        ),
    }
    skipped = f"; {len(empty)} empty grids skipped" if empty else ""
    print(f"## 32 studs, {n} ModelNet10 shapes ({args.per_class} per class, seed {SEED}{skipped})\n")
    print("| metric | value |\n| --- | --- |")
    for name, value in table.items():
        print(f"| {name} | {value} |")
    bad = [f"{r['class']}#{r['index']}" for r in rows if not r["buildable"]]
    print(f"\nnot buildable: {', '.join(bad) or 'none'}")
    big = []
    if args.big_per_class > 0:
        big_picks = [i for i in sample(ds.labels, args.big_per_class, seed=1) if ds.voxels[i].any()]
    else:
        big_picks = picks[:: max(1, n // max(args.big, 1))][: args.big]
    for i in big_picks:
        r = build(ds.voxels[i], 64)
        r["index"], r["class"] = int(i), str(ds.classes[ds.labels[i]])
        big.append(r)
    if big:
        print("\n## 64 studs\n")
        print("| shape | cells | parts | buildable | layout s | physics s |")
        print("| --- | --- | --- | --- | --- | --- |")
        for r in big:
            print(
                f"| {r['class']}#{r['index']} | {r['cells']} | {r['parts']} | {r['buildable']} | "
                f"{r['layout_s']:.2f} | {r['physics_s']:.2f} |"
            )
        # the target's scope: "64 studs (up to about 150k cells) in under 20 s"
        scope = [r for r in big if r["cells"] <= 150_000]
        fast = sum(r["total_s"] < 20.0 for r in scope)
        print(f"\nup to 150k cells: {fast} of {len(scope)} under 20 s (layout + physics)")
    tp = None if args.no_teapot else teapot()
    if tp:
        print("\n## Utah teapot, whole brickify pipeline at 32 studs\n")
        print(
            f"{tp['total_s']:.2f} s, {tp['parts']} parts, {tp['verdict']}, "
            f"connected {tp['connected']}; stages {tp['timings_s']}"
        )
    print(json.dumps({"bench": "bricks", "rows": rows, "big": big, "teapot": tp}))
    keep = ("cells", "parts", "buildable", "layout_s", "physics_s", "total_s")
    return {
        "shapes_32_studs": n,
        "per_class": args.per_class,
        "empty_grids_skipped": len(empty),
        "summary_32_studs": table,
        "not_buildable": ", ".join(bad) or "none",
        "shapes_64_studs": [
            {"shape": f"{r['class']}#{r['index']}", **{k: r[k] for k in keep}} for r in big
        ],
        "teapot": tp,
    }


def main() -> None:
    figures()


if __name__ == "__main__":
    main()
