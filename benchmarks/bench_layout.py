"""Benchmark of brick layout on ModelNet10 shapes upsampled to a 32-stud LEGO grid.

Seeded, stratified by class sample of the training voxels (30^3, z up); each shape is resampled
onto the LEGO lattice at S studs with ``voxforge.voxel.resample.resample_grid`` (as
``bench_bricks.py`` and the CLI do) and laid out with each strategy, no physics in the loop.
Prints a JSON summary: time per shape (median, max), parts per filled cell, share of 1x1 parts,
share that is ONE stud-connected grounded piece, distinct part kinds, added cells; plus physics
time when ``--physics`` is given.

    .venv/bin/python benchmarks/bench_layout.py [--n 50] [--studs 32] [--optimal-n 10] [--physics]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from voxforge.bricks.lay import LayoutConfig, lay_bricks
from voxforge.core.errors import VoxforgeError
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.voxel import VoxelizeConfig
from voxforge.voxel.resample import resample_grid

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "modelnet10_vox30_train.npz"


def sample_shapes(n: int, studs: int, seed: int = 0) -> list[tuple[str, VoxelGrid]]:
    """``n`` shapes stratified by class (seeded), as LEGO-lattice grids ``studs`` wide."""
    data = np.load(DATA)
    vox, labels, classes = data["voxels"], data["labels"], data["classes"]
    rng = np.random.default_rng(seed)
    per = int(np.ceil(n / len(classes)))
    picks = []
    for c in range(len(classes)):
        idx = np.flatnonzero(labels == c)
        picks += [
            (str(classes[c]), int(i)) for i in rng.choice(idx, size=min(per, len(idx)), replace=False)
        ]
    picks = picks[:n]
    cfg = VoxelizeConfig(width_studs=studs)
    return [
        (name, resample_grid(VoxelGrid(vox[i].astype(bool), pitch=1.0 / 30), cfg)) for name, i in picks
    ]


def _physics():
    try:
        from voxforge.bricks.physics.stability import analyze_stability
    except ImportError:
        return None
    return analyze_stability


def run(strategy: str, shapes, budget: float, physics) -> dict:
    phys_fail: list[str] = []
    times, phys_times, per_cell, ok, kinds, added, seams, ones = [], [], [], [], [], [], [], []
    for _, grid in shapes:
        t = time.perf_counter()
        model, rep = lay_bricks(grid, None, LayoutConfig(strategy=strategy, solver_work=budget))
        times.append(time.perf_counter() - t)
        if physics is not None:
            t = time.perf_counter()
            try:
                physics(model)
            except VoxforgeError as err:  # another stage's limit; count it, keep timing layout
                phys_fail.append(str(err)[:80])
            phys_times.append(time.perf_counter() - t)
        per_cell.append(rep.n_parts / rep.cells)
        ones.append(sum(p.sx * p.sy == 1 for p in model.placements) / max(1, rep.n_parts))
        ok.append(bool(rep.connectivity["connected"] and rep.connectivity["grounded"]))
        kinds.append(rep.distinct_kinds)
        added.append(rep.added_cells / max(1, rep.cells - rep.added_cells))
        if not np.isnan(rep.seams_aligned_share):
            seams.append(rep.seams_aligned_share)
    res = {
        "shapes": len(shapes),
        "time_s_median": round(float(np.median(times)), 3),
        "time_s_max": round(float(np.max(times)), 3),
        "parts_per_cell_median": round(float(np.median(per_cell)), 4),
        "one_by_one_share_median": round(float(np.median(ones)), 4),
        "one_piece_grounded_share": round(float(np.mean(ok)), 3),
        "distinct_kinds_median": float(np.median(kinds)),
        "added_cells_share_median": round(float(np.median(added)), 4),
        "seams_aligned_share_median": round(float(np.median(seams)), 4) if seams else None,
    }
    if phys_times:
        total = np.asarray(times) + np.asarray(phys_times)
        res["physics_s_median"] = round(float(np.median(phys_times)), 3)
        res["layout_plus_physics_s_max"] = round(float(total.max()), 3)
        res["physics_failures"] = len(phys_fail)
    return res


QUICK = {"layout": ["--n", "10", "--optimal-n", "3"]}


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--studs", type=int, default=32)
    ap.add_argument("--optimal-n", type=int, default=10, help="shapes for the CP-SAT strategy")
    ap.add_argument("--optimal-budget", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--physics", action="store_true", help="also time bricks.physics per shape")
    args = ap.parse_args(argv)
    shapes = sample_shapes(args.n, args.studs, args.seed)
    lay_bricks(VoxelGrid(np.ones((2, 2, 3), bool)), None)  # compile the numba kernels first
    cells = [int(g.count) for _, g in shapes]
    physics = _physics() if args.physics else None
    out = {
        "studs": args.studs,
        "cells_median": int(np.median(cells)),
        "cells_max": int(np.max(cells)),
        "physics": physics is not None,
        "greedy": run("greedy", shapes, 10.0, physics),
    }
    if args.optimal_n:
        sub = shapes[:: max(1, len(shapes) // args.optimal_n)][: args.optimal_n]
        out["greedy_on_optimal_subset"] = run("greedy", sub, 10.0, None)
        out["optimal"] = run("optimal", sub, args.optimal_budget, None)
    print(json.dumps(out, indent=2))
    return out


def main() -> None:
    figures()


if __name__ == "__main__":
    main()
