"""Build order on real shapes: does every step prefix stand, and how long does planning take?

For a seeded, class-stratified sample of ModelNet10 shapes (4 per class, 40 in all, from
``../shared/data``), each 30^3 grid is resampled onto the LEGO lattice at 32 studs and laid out
as in ``bench_bricks.py`` (default layout, stability repair on), then ordered with
:func:`voxforge.bricks.order.planner.plan_build` (default config: a physics budget of 80,000
parts in programs). Reported:
the share of shapes whose every prefix is stud-connected to the ground, whose every part is
pressed on from above, whose every prefix is proven to stand (and the share where the physics
budget left some prefixes unchecked), among all shapes and among the buildable ones (the whole
model stands and is connected); steps, parts per step, sub-assemblies, and planning time.

Usage: ``nice -n 10 .venv/bin/python benchmarks/bench_buildorder.py [--per-class 4]``
"""

from __future__ import annotations

import argparse
import json
import re
import time

import numpy as np

from bench_bricks import DATA, SEED, sample
from voxforge.bricks.connectivity import connectivity_report
from voxforge.bricks.lay import LayoutConfig, lay_bricks
from voxforge.bricks.ldraw import mpd_text
from voxforge.bricks.order.planner import OrderConfig, plan_build
from voxforge.bricks.physics.stability import analyze_stability
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.io import load_voxel_dataset
from voxforge.voxel import VoxelizeConfig
from voxforge.voxel.resample import resample_grid

BUDGET = OrderConfig().physics_budget
"""Parts in the stability programs per shape, summed (the library default)."""


def _steps_per_file(text: str) -> dict[str, int]:
    """Step lines (``0 STEP`` / ``0 ROTSTEP``) in each ``0 FILE`` section of an MPD."""
    counts: dict[str, int] = {}
    current = ""
    for ln in text.splitlines():
        if ln.startswith("0 FILE "):
            current = ln[7:]
            counts[current] = 0
        elif ln.startswith(("0 STEP", "0 ROTSTEP")):
            counts[current] = counts.get(current, 0) + 1
    return counts


def run_one(vox: np.ndarray, studs: int = 32) -> dict:
    grid = resample_grid(VoxelGrid(vox.astype(bool), pitch=1.0 / 30), VoxelizeConfig(width_studs=studs))
    codes = np.where(grid.occupancy, 71, -1).astype(np.int32)
    model, _ = lay_bricks(grid, codes, LayoutConfig(), stability=analyze_stability)
    conn = connectivity_report(model)
    t0 = time.perf_counter()
    plan = plan_build(model, OrderConfig(physics_budget=BUDGET))
    dt = time.perf_counter() - t0
    info, s = plan.info, plan.summary()
    last = len(plan.steps)
    final_known = last not in info["unchecked_steps"]
    final_stable = final_known and not any(
        p["step"] == last and p["reason"].startswith("the build so far") for p in info["problems"]
    )
    return {
        "parts": len(model),
        "buildable": bool(conn.connected and conn.grounded and final_stable),
        "final_known": final_known,
        "connected": bool(info["prefixes_connected"]),
        "pressed": bool(info["press_from_above"]),
        "stable": info["prefixes_stable"],
        "unchecked": len(info["unchecked_steps"]),
        "steps": s["steps"],
        "pps_median": s["parts_per_step"]["median"],
        "pps_max": s["parts_per_step"]["max"],
        "subs": len(plan.submodels),
        "sub_sizes": sorted(len(sub.parts) for sub in plan.submodels),
        "sub_problems": sum(p["reason"].startswith("sub-assembly") for p in info["problems"]),
        "held": sum(
            int(m.group(1))
            for p in info["problems"]
            if (m := re.search(r"(\d+) parts hang inside it", p["reason"]))
        ),
        "max_ldraw_steps": max(_steps_per_file(mpd_text(model, title="bench", plan=plan)).values()),
        "lp_checks": info["physics_checks"],
        "seconds": dt,
    }


QUICK = {"buildorder": ["--per-class", "1"]}


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=4)
    args = ap.parse_args(argv)
    ds = load_voxel_dataset(DATA / "modelnet10_vox30_train.npz")
    picks = sample(ds.labels, args.per_class)
    rows = []
    for i in picks:
        r = run_one(ds.voxels[i])
        r["index"], r["class"] = int(i), str(ds.classes[ds.labels[i]])
        rows.append(r)
    n = len(rows)
    good = [r for r in rows if r["buildable"]]

    def share(rs: list[dict], pred) -> str:
        return f"{np.mean([pred(r) for r in rs]):.1%}" if rs else "n/a"

    t = np.array([r["seconds"] for r in rows])
    sizes = [k for r in rows for k in r["sub_sizes"]]
    table = {
        "every prefix connected": share(rows, lambda r: r["connected"]),
        "every part pressed from above": share(rows, lambda r: r["pressed"]),
        "every prefix proven stable": share(rows, lambda r: r["stable"] is True),
        "some prefix unstable": share(rows, lambda r: r["stable"] is False),
        "some prefix unchecked (budget)": share(rows, lambda r: r["stable"] is None),
        f"buildable shapes ({len(good)}): connected + pressed + proven stable": share(
            good, lambda r: r["connected"] and r["pressed"] and r["stable"] is True
        ),
        "sub-assemblies with parts hanging inside (shapes)": share(
            rows, lambda r: r["sub_problems"] > 0
        ),
        "steps (median)": f"{np.median([r['steps'] for r in rows]):.0f}",
        "parts per step (median of medians / max)": (
            f"{np.median([r['pps_median'] for r in rows]):.1f} / {max(r['pps_max'] for r in rows)}"
        ),
        "sub-assemblies per shape (median / max)": (
            f"{np.median([r['subs'] for r in rows]):.0f} / {max(r['subs'] for r in rows)}"
        ),
        "sub-assembly parts (min / median / max over all)": (
            f"{min(sizes, default=0)} / {np.median(sizes) if sizes else 0:.0f} / {max(sizes, default=0)}"
        ),
        "sub-assemblies of 3 parts or fewer / over 150": (
            f"{sum(k <= 3 for k in sizes)} / {sum(k > 150 for k in sizes)} of {len(sizes)}"
        ),
        "parts to hold by hand (all shapes)": str(sum(r["held"] for r in rows)),
        "most steps in one LDraw (sub-)model": str(max(r["max_ldraw_steps"] for r in rows)),
        "planning s (median / p90 / max)": (
            f"{np.median(t):.2f} / {np.percentile(t, 90):.2f} / {t.max():.2f}"
        ),
    }
    print(f"## build order, 32 studs, {n} ModelNet10 shapes ({args.per_class} per class, seed {SEED})\n")
    print("| metric | value |\n| --- | --- |")
    for name, value in table.items():
        print(f"| {name} | {value} |")
    print(json.dumps({"bench": "buildorder", "rows": rows}))
    return {"shapes": n, "per_class": args.per_class, "seed": SEED, "summary": table}


def main() -> None:
    figures()


if __name__ == "__main__":
    main()
