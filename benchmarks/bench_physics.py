"""Benchmark: time `analyze_stability` on real and generated brick models at 32 and 64 studs.

Real: ModelNet10 training shapes (``../shared/data/modelnet10_vox30_train.npz``, one per class,
seeded), resampled onto the LEGO lattice and laid out with the default layout (no repair loop),
as ``benchmarks/bench_bricks.py`` does. Generated: solid and hollow boxes (side = height in
metres, so 32 studs wide is 80 plates tall) and solid and hollow stepped pyramids, laid out here
with a running-bond greedy layout of 2x4 / 2x2 / 1x4 / 1x2 / 1x1 bricks whose orientation
alternates per course. Prints one JSON line per model plus a markdown table; ``--reference``
also times the whole-model program (the analysis before the region decomposition) and checks
that the verdicts agree.

    .venv/bin/python benchmarks/bench_physics.py [--sizes 32 64] [--modelnet 10] [--reference]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from voxforge.bricks.physics.report import StabilityReport
from voxforge.bricks.physics.stability import PhysicsConfig, analyze_stability
from voxforge.core.brickmodel import BrickModel, Placement

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SEED = 0

BRICKS = {(2, 4): "3001", (2, 2): "3003", (1, 4): "3010", (1, 2): "3004", (1, 1): "3005"}
COURSE = 3  # plates per brick course


def lay_course(mask: np.ndarray, z: int, course: int) -> list[Placement]:
    """Greedy bricks covering the 2D ``mask`` (nx, ny); long sides alternate x / y per course."""
    along_x = course % 2 == 0
    sizes = [(4, 2), (2, 2), (4, 1), (2, 1), (1, 1)]
    free = mask.copy()
    nx, ny = mask.shape
    out: list[Placement] = []
    shift = 2 * ((course // 2) % 2)  # stagger the joints of same-orientation courses
    for x in range(nx):
        for y in range(ny):
            if not free[x, y]:
                continue
            for a, b in sizes:
                sx, sy = (a, b) if along_x else (b, a)
                # start rows half a brick later on staggered courses where there is room
                if sx == 4 and (x + shift) % 4 and free[x : x + 2, y].all() and x + 2 <= nx:
                    sx = 2
                if sy == 4 and (y + shift) % 4 and free[x, y : y + 2].all() and y + 2 <= ny:
                    sy = 2
                if x + sx > nx or y + sy > ny or not free[x : x + sx, y : y + sy].all():
                    continue
                free[x : x + sx, y : y + sy] = False
                key = BRICKS[tuple(sorted((sx, sy)))]
                out.append(Placement(key, x, y, z, sx, sy, COURSE, 4, 0 if sx >= sy else 1))
                break
    return out


def shape_masks(kind: str, side: int) -> list[np.ndarray]:
    """Per-course 2D occupancy masks of the shape, bottom course first."""
    wall = 2
    if kind in ("box", "hollow_box"):
        courses = round(side * 8.0 / 3.2) // COURSE
        full = np.ones((side, side), dtype=bool)
        masks = [full.copy() for _ in range(courses)]
        if kind == "hollow_box":  # a floor and walls, open at the top (a lid would float)
            ring = full.copy()
            ring[wall:-wall, wall:-wall] = False
            masks = [full] + [ring.copy() for _ in range(courses - 1)]
        return masks
    masks = []
    for c in range(side // 2):
        m = np.zeros((side, side), dtype=bool)
        m[c : side - c, c : side - c] = True
        if kind == "hollow_pyramid" and side - 2 * c > 2 * wall + 2 and c > 0:
            m[c + wall : side - c - wall, c + wall : side - c - wall] = False
        masks.append(m)
    return masks


def build_model(kind: str, side: int) -> BrickModel:
    masks = shape_masks(kind, side)
    parts: list[Placement] = []
    for c, m in enumerate(masks):
        parts += lay_course(m, c * COURSE, c)
    return BrickModel(parts, shape=(side, side, len(masks) * COURSE))


def modelnet_models(studs: int, count: int) -> Iterator[tuple[str, BrickModel]]:
    """``count`` ModelNet10 shapes (classes in turn, seeded) laid out at ``studs`` studs wide."""
    from voxforge.bricks.lay import LayoutConfig, lay_bricks
    from voxforge.core.voxelgrid import VoxelGrid
    from voxforge.io import load_voxel_dataset
    from voxforge.voxel import VoxelizeConfig
    from voxforge.voxel.resample import resample_grid

    path = DATA / "modelnet10_vox30_train.npz"
    if not path.is_file() or count <= 0:
        return
    ds = load_voxel_dataset(path)
    rng = np.random.default_rng(SEED)
    classes = np.unique(ds.labels)
    for k in range(count):
        c = classes[k % len(classes)]
        i = int(rng.choice(np.flatnonzero(ds.labels == c)))
        vox = VoxelGrid(ds.voxels[i].astype(bool), pitch=1.0 / 30)
        grid = resample_grid(vox, VoxelizeConfig(width_studs=studs))
        codes = np.where(grid.occupancy, 71, -1).astype(np.int32)
        model, _ = lay_bricks(grid, codes, LayoutConfig(), stability=None)
        yield f"{ds.classes[c]}#{i}", model


def timed(model: BrickModel, cfg: PhysicsConfig) -> tuple[StabilityReport, float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    rep = analyze_stability(model, cfg)
    return rep, time.perf_counter() - t0, time.process_time() - c0


QUICK = {"physics": ["--sizes", "32", "--modelnet", "3"]}


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--shapes", nargs="+", default=["hollow_box", "hollow_pyramid", "pyramid", "box"])
    ap.add_argument("--modelnet", type=int, default=10, help="ModelNet shapes per size (0: none)")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--reference", action="store_true", help="also time the whole-model program (slow)")
    args = ap.parse_args(argv)
    cfg = PhysicsConfig(time_limit_s=args.time_limit)
    ref_cfg = PhysicsConfig(time_limit_s=args.time_limit, precheck=False)
    rows = []
    for side in args.sizes:
        models = [(k, build_model(k, side)) for k in args.shapes]
        models += list(modelnet_models(side, args.modelnet))
        for name, model in models:
            rep, dt, cpu = timed(model, cfg)
            row = {
                "shape": name,
                "studs": side,
                "parts": rep.n_parts,
                "interfaces": rep.n_interfaces,
                "region": rep.n_region,
                "variables": rep.n_variables,
                "verdict": rep.verdict,
                "max_stress": round(rep.max_stress, 5),
                "status": rep.status.split(" (")[0],
                "time_s": round(dt, 3),
                "cpu_s": round(cpu, 3),
            }
            if args.reference:
                ref, rdt, _ = timed(model, ref_cfg)
                row |= {
                    "ref_verdict": ref.verdict,
                    "ref_max_stress": round(ref.max_stress, 5),
                    "ref_variables": ref.n_variables,
                    "ref_time_s": round(rdt, 3),
                }
            rows.append(row)
            print(json.dumps(row), flush=True)
    ref = " ref verdict | ref max stress | ref time s |" if args.reference else ""
    print(
        "\n| shape | studs | parts | region | variables | verdict | max stress | status | time s |" + ref
    )
    print("|---" * (9 + 3 * args.reference) + "|")
    for r in rows:
        line = (
            f"| {r['shape']} | {r['studs']} | {r['parts']} | {r['region']} | {r['variables']} | "
            f"{r['verdict']} | {r['max_stress']} | {r['status']} | {r['time_s']} |"
        )
        if args.reference:
            line += f" {r['ref_verdict']} | {r['ref_max_stress']} | {r['ref_time_s']} |"
        print(line)
    return {"models": rows}


if __name__ == "__main__":
    figures(sys.argv[1:])
