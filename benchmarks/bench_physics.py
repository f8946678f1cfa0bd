"""Benchmark: time `analyze_stability` on generated brick models at 32 and 64 studs.

Shapes: solid and hollow boxes (side = height in metres, so 32 studs wide is 80 plates tall) and
solid and hollow stepped pyramids (one stud in per side per brick course). Each is laid out here
with a simple running-bond greedy layout of 2x4 / 2x2 / 1x4 / 1x2 / 1x1 bricks whose orientation
alternates per course, so the courses interlock. Prints one JSON line per model plus a markdown
table.

    .venv/bin/python benchmarks/bench_physics.py [--sizes 32 64] [--shapes box ...] [--no-precheck]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from voxforge.bricks.physics import PhysicsConfig, analyze_stability
from voxforge.core.brickmodel import BrickModel, Placement

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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--shapes", nargs="+", default=["hollow_box", "hollow_pyramid", "pyramid", "box"])
    ap.add_argument(
        "--no-precheck", action="store_true", help="always solve the LP (time the LP itself)"
    )
    args = ap.parse_args(argv)
    rows = []
    cfg = PhysicsConfig(time_limit_s=120, precheck=not args.no_precheck)
    for side in args.sizes:
        for kind in args.shapes:
            model = build_model(kind, side)
            t0, c0 = time.perf_counter(), time.process_time()
            rep = analyze_stability(model, cfg)
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            row = {
                "shape": kind,
                "studs": side,
                "cells": int(sum(p.cells for p in model.placements)),
                "parts": rep.n_parts,
                "contacts": rep.n_contacts,
                "interfaces": rep.n_interfaces,
                "variables": rep.n_variables,
                "verdict": rep.verdict,
                "margin": round(rep.margin, 4),
                "time_s": round(dt, 3),
                "cpu_s": round(cpu, 3),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(
        "\n| shape | studs | cells | parts | contacts | variables | verdict | margin | time s | cpu s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['shape']} | {r['studs']} | {r['cells']} | {r['parts']} | {r['contacts']} | "
            f"{r['variables']} | {r['verdict']} | {r['margin']} | {r['time_s']} | {r['cpu_s']} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
