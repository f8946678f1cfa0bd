"""Benchmark: colour matching, colour assignment, LDraw writing/reading and parts lists.

Inputs are generated here with a fixed seed:
- ``match``: n random sRGB colours matched to the 37-colour solid palette (CIEDE2000 and Oklab).
  Random colours are the worst case: almost no duplicates survive the 8-bit deduplication.
- ``assign``: a solid ball of radius r cells on the LEGO lattice whose colour varies smoothly
  (a hue sweep around the ball plus a vertical lightness ramp, with a little noise), assigned in
  ``auto``, K = 8 and K = 8 dithered; reports the codes used and mean CIEDE2000 on the surface.
- ``ldraw``: a wall of 2 x 4 bricks in running bond (n parts) written as MPD and read back, plus
  its bill of materials.
- ``shading``: every solid palette colour scaled in linear light (0.8-1.15 and 0.6-1.2, as shading
  on scans and textures does), plain and with noise; the share each metric matches back to the
  colour it came from (CIEDE2000, the default lightness-weighted Oklab, plain Oklab), and what
  each picks for a banana texture's mustard yellow and a saturated blue.

    .venv/bin/python benchmarks/bench_colors.py [--n 1000000] [--radius 32] [--parts 20000]

Prints one JSON line per measurement and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from voxforge.bricks.bom import bill_of_materials
from voxforge.bricks.colors.assign import ColorConfig, assign_colors, assign_colors_report
from voxforge.bricks.colors.match import OKLAB_LIGHTNESS_SCALE, match_colors, palette_array
from voxforge.bricks.colors.palette import load_colors, solid_palette
from voxforge.bricks.ldraw import read_ldraw, write_mpd
from voxforge.core.brickmodel import BrickModel, Placement
from voxforge.core.color import srgb_to_oklab
from voxforge.core.voxelgrid import VoxelGrid


def timed(fn):
    """(wall seconds, result); CPU seconds of the last call in ``LAST_CPU`` (shared machines)."""
    global LAST_CPU
    c, t = time.process_time(), time.perf_counter()
    out = fn()
    LAST_CPU = round(time.process_time() - c, 3)
    return time.perf_counter() - t, out


LAST_CPU = 0.0


def bench_match(n: int, rng: np.random.Generator) -> list[dict]:
    rgb = rng.random((n, 3))
    pal = solid_palette()
    rows = []
    match_colors(rgb[:10], pal)  # compile the numba kernel outside the timing
    for metric in ("ciede2000", "oklab"):
        sec, _ = timed(lambda m=metric: match_colors(rgb, pal, metric=m))
        rows.append(
            {"bench": "match_colors", "metric": metric, "n": n, "palette": len(pal),
             "seconds": round(sec, 3), "cpu_seconds": LAST_CPU, "colours_per_s": int(n / sec)}
        )  # fmt: skip
    agree = float((match_colors(rgb[:100000], pal) == match_colors(rgb[:100000], pal, "oklab")).mean())
    rows[-1]["agreement_with_ciede2000"] = round(agree, 4)
    return rows


def ball(radius: int, rng: np.random.Generator) -> VoxelGrid:
    nz = int(radius * 2 * 2.5)  # plates are 2.5x thinner than studs are wide
    x, y, z = np.meshgrid(
        np.arange(2 * radius) - radius + 0.5,
        np.arange(2 * radius) - radius + 0.5,
        (np.arange(nz) - nz / 2 + 0.5) / 2.5,
        indexing="ij",
    )
    occ = x**2 + y**2 + z**2 <= radius**2
    hue = (np.arctan2(y, x) / (2 * np.pi)) % 1.0
    light = 0.35 + 0.5 * (z / radius + 1) / 2
    h6 = hue * 6
    rgb = np.clip(np.stack([np.abs(h6 - 3) - 1, 2 - np.abs(h6 - 2), 2 - np.abs(h6 - 4)], -1), 0, 1)
    rgb = rgb * 0.6 + 0.4 * light[..., None]
    rgb = np.clip(rgb * light[..., None] * 1.4 + rng.normal(0, 0.02, rgb.shape), 0, 1)
    return VoxelGrid(occ, colors=rgb.astype(np.float32))


def bench_assign(radius: int, rng: np.random.Generator) -> list[dict]:
    grid = ball(radius, rng)
    rows = []
    for label, cfg in (
        ("auto", ColorConfig(mode="auto")),
        ("K=8", ColorConfig(mode=8)),
        ("K=8 dither", ColorConfig(mode=8, dither=True)),
        ("K=8 oklab", ColorConfig(mode=8, metric="oklab")),
    ):
        assign_colors(
            VoxelGrid(grid.occupancy[:4, :4, :4], colors=grid.colors[:4, :4, :4]), cfg
        )  # warm JIT
        sec, (_, rep) = timed(lambda c=cfg: assign_colors_report(grid, c))
        rows.append(
            {"bench": "assign_colors", "mode": label, "cells": grid.count, "shape": list(grid.shape),
             "seconds": round(sec, 3), "cpu_seconds": LAST_CPU, "codes": len(rep.codes),
             "requested": rep.requested, "merged": rep.merged, "mean_dE00_surface": rep.mean_delta_e}
        )  # fmt: skip
    return rows


def wall(n_parts: int) -> BrickModel:
    per_course = 25
    courses = -(-n_parts // per_course)
    ps = []
    for c in range(courses):
        off = 2 * (c % 2)
        for i in range(per_course):
            if len(ps) == n_parts:
                break
            ps.append(Placement("3001", off + 4 * i, 0, 3 * c, 4, 2, 3, (4, 15, 1, 14)[(i + c) % 4]))
    return BrickModel(ps, (4 * per_course + 2, 2, 3 * courses))


def bench_ldraw(n_parts: int) -> list[dict]:
    model = wall(n_parts)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "wall.mpd"
        w_sec, _ = timed(lambda: write_mpd(model, path, title="wall"))
        w_cpu = LAST_CPU
        size = path.stat().st_size
        r_sec, back = timed(lambda: read_ldraw(path))
        r_cpu = LAST_CPU
    assert len(back) == n_parts
    b_sec, rows = timed(lambda: bill_of_materials(model))
    return [
        {
            "bench": "write_mpd",
            "parts": n_parts,
            "seconds": round(w_sec, 3),
            "cpu_seconds": w_cpu,
            "bytes": size,
        },
        {"bench": "read_ldraw", "parts": n_parts, "seconds": round(r_sec, 3), "cpu_seconds": r_cpu},
        {"bench": "bill_of_materials", "parts": n_parts, "seconds": round(b_sec, 4), "rows": len(rows)},
    ]


def _plain_oklab(rgb: np.ndarray, pal: list[int]) -> np.ndarray:
    """Nearest palette codes by unweighted Euclidean Oklab distance."""
    codes, pal_rgb = palette_array(pal)
    d = ((srgb_to_oklab(rgb)[:, None] - srgb_to_oklab(pal_rgb)[None]) ** 2).sum(-1)
    return codes[d.argmin(1)]


def bench_shading(rng: np.random.Generator) -> list[dict]:
    from voxforge.core.color import linear_to_srgb, srgb_to_linear

    pal = solid_palette()
    table = load_colors()
    rows = []
    for scales in ((0.8, 0.9, 1.0, 1.15), (0.6, 0.7, 0.8, 0.9, 1.1, 1.2)):
        rgb, want = [], []
        for code in pal:
            lin = srgb_to_linear(table[code].srgb, np.float64)
            for k in scales:
                for noise in (0.0, 1.0, 1.0):
                    rgb.append(linear_to_srgb(lin * k + noise * rng.normal(0, 0.01, 3), np.float64))
                    want.append(code)
        x, y = np.array(rgb), np.array(want)
        probe = np.array([[194, 165, 18], [30, 30, 200]]) / 255  # banana texture, saturated blue
        for label, match in (
            ("ciede2000", lambda r: match_colors(r, pal, metric="ciede2000")),
            (f"oklab (L x {OKLAB_LIGHTNESS_SCALE})", lambda r: match_colors(r, pal, metric="oklab")),
            ("plain oklab", lambda r: _plain_oklab(r, pal)),
        ):
            picks = match(probe)
            rows.append(
                {"bench": "shading", "metric": label, "n": len(x), "scales": list(scales),
                 "seconds": 0.0, "found": round(float((match(x) == y).mean()), 4),
                 "banana": table[int(picks[0])].name, "blue": table[int(picks[1])].name}
            )  # fmt: skip
    return rows


QUICK = {"colors": ["--n", "200000", "--parts", "5000"]}


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--radius", type=int, default=32)
    ap.add_argument("--parts", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    results = bench_match(args.n, rng) + bench_assign(args.radius, rng) + bench_ldraw(args.parts)
    results += bench_shading(rng)
    for r in results:
        print(json.dumps(r))
    print("\n| benchmark | case | size | seconds | notes |\n| --- | --- | --- | --- | --- |")
    for r in results:
        case = r.get("metric") or r.get("mode") or ""
        size = r.get("n") or r.get("cells") or r.get("parts")
        notes = ", ".join(
            f"{k}={v}"
            for k, v in r.items()
            if k not in ("bench", "metric", "mode", "n", "cells", "parts", "seconds")
        )
        print(f"| {r['bench']} | {case} | {size} | {r['seconds']} | {notes} |")
    return {"cases": results}


if __name__ == "__main__":
    figures(sys.argv[1:])
