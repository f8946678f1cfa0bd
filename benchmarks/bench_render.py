"""Benchmark: headless rendering speed.

A seeded 1,000-part stepped pyramid of 2x4 / 2x2 / 1x2 bricks in a few colours (greedy running-bond
tiling per layer, generated here as BrickModel placements) rendered at 1024 px, plus a 32-stud
LEGO-lattice voxel preview at 800 px. Numba compile time (first call) is reported apart from the
warm per-image times (median of several runs). Target: under 0.2 s per 1024-px brick image on
2 cores.

Run: ``.venv/bin/python benchmarks/bench_render.py`` (prints JSON).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

from voxforge.bricks.geometry import brick_model_geometry
from voxforge.core.brickmodel import BrickModel, Placement
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.render.bricks import brick_camera, render_bricks
from voxforge.render.raster import render_mesh
from voxforge.render.voxels import render_voxels

COLORS = [4, 1, 14, 15, 2, 71, 0, 25]
# (part, width, length)
BRICKS = [("3001", 2, 4), ("3003", 2, 2), ("3004", 1, 2), ("3005", 1, 1)]


def _tile_layer(mask: np.ndarray, layer: int, rng: np.random.Generator) -> list[tuple]:
    """Greedy tiling of a 2-D mask with 2x4, 2x2, 1x2, 1x1 bricks; alternate layers prefer the
    other orientation and start offset, so joints are staggered like a real wall."""
    free = mask.copy()
    out = []
    nx, ny = free.shape
    order = [(x, y) for x in range(nx) for y in range(ny)]
    if layer % 2:
        order = [(x, y) for y in range(ny) for x in range(nx)]
    for x, y in order:
        if not free[x, y]:
            continue
        start = int(rng.choice(3, p=[0.6, 0.25, 0.15]))  # mix in 2x2 and 1x2 bricks
        for part, w, ln in BRICKS[start:]:
            dims = [(ln, w), (w, ln)] if layer % 2 == 0 else [(w, ln), (ln, w)]
            placed = False
            for sx, sy in dims:
                if x + sx <= nx and y + sy <= ny and free[x : x + sx, y : y + sy].all():
                    free[x : x + sx, y : y + sy] = False
                    out.append((part, x, y, sx, sy, int(rng.choice(COLORS))))
                    placed = True
                    break
            if placed:
                break
    return out


def pyramid_model(n_parts: int = 1000, base: int = 32, seed: int = 0) -> BrickModel:
    """A solid stepped pyramid of brick layers, each 1 stud in from the one below, truncated to
    ``n_parts`` placements."""
    rng = np.random.default_rng(seed)
    placements: list[Placement] = []
    layer = 0
    while len(placements) < n_parts:
        inset = layer
        size = base - 2 * inset
        if size < 2:
            break
        mask = np.zeros((base, base), dtype=bool)
        mask[inset : base - inset, inset : base - inset] = True
        for part, x, y, sx, sy, color in _tile_layer(mask, layer, rng):
            placements.append(Placement(part, x, y, layer * 3, sx, sy, 3, color))
        layer += 1
    placements = placements[:n_parts]
    return BrickModel(placements, (base, base, 3 * layer + 1))


def _timed(fn, repeats: int) -> dict[str, float]:
    """Wall and CPU seconds per call (median of ``repeats`` warm calls). CPU time sums all
    threads; on a shared machine it shows the work when wall time is inflated by other load."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {
        "wall_median_s": round(float(np.median(wall)), 4),
        "wall_min_s": round(float(np.min(wall)), 4),
        "cpu_median_s": round(float(np.median(cpu)), 4),
    }


_COLD = """
import sys, time
sys.path.insert(0, {here!r})
from bench_render import pyramid_model
from voxforge.render.bricks import render_bricks
from voxforge.render.voxels import render_voxels
from voxforge.core.voxelgrid import VoxelGrid
import numpy as np
model = pyramid_model(50)
t0 = time.perf_counter()
render_bricks(model, size=256, highlight={{0}}, dim={{1}})
render_voxels(VoxelGrid(np.ones((2, 2, 2), bool)), size=64)
print(time.perf_counter() - t0)
"""


def _cold_start_s() -> float:
    """First render in a fresh process with an empty numba cache: compile time (plus a tiny
    render)."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        code = _COLD.format(here=str(Path(__file__).resolve().parent))
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
    return round(float(out.stdout.strip().splitlines()[-1]), 2)


def _sphere_grid(n: int = 32) -> VoxelGrid:
    """A coloured ball n studs across on the LEGO lattice (2.5 plates per stud in height)."""
    x, y, z = np.meshgrid(np.arange(n), np.arange(n), np.arange(int(n * 2.5)), indexing="ij")
    r2 = (x + 0.5 - n / 2) ** 2 + (y + 0.5 - n / 2) ** 2 + ((z + 0.5 - n * 1.25) / 2.5) ** 2
    occ = r2 < (n / 2) ** 2
    colors = np.zeros((*occ.shape, 3), dtype=np.float32)
    colors[..., 0], colors[..., 1], colors[..., 2] = x / n, y / n, 0.3
    return VoxelGrid(occ, colors=colors)


TARGETS = {"render": {"bricks_1024px.wall_median_s": "< 0.2 s"}}


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    model = pyramid_model()
    geom = brick_model_geometry(model, stud_segments=12)
    geom_all = brick_model_geometry(model, stud_segments=12, cull_hidden=False)
    cam = brick_camera(model, 1024)
    grid = _sphere_grid(32)
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "numba_threads": numba.get_num_threads(),
            "load_avg_1min": round(os.getloadavg()[0], 2),
        },
        "cold_start_compile_s": _cold_start_s(),
        "brick_model": {
            "parts": len(model),
            "triangles_drawn": len(geom.faces),
            "triangles_uncull": len(geom_all.faces),
        },
        "bricks_1024px": _timed(lambda: render_bricks(model, size=1024), 7),
        "bricks_1024px_step_style": _timed(
            lambda: render_bricks(
                model, size=1024, highlight=set(range(900, 1000)), dim=set(range(900))
            ),
            5,
        ),
        "bricks_1024px_no_culling": _timed(
            lambda: render_mesh(
                geom_all.vertices,
                geom_all.faces,
                geom_all.face_rgb,
                cam,
                face_group=geom_all.face_group,
            ),
            3,
        ),
        "brick_geometry_only": _timed(lambda: brick_model_geometry(model, stud_segments=12), 5),
        "voxels_32stud_800px": {"cells": grid.count, **_timed(lambda: render_voxels(grid, 800), 5)},
        "target_s": 0.2,
    }
    print(json.dumps(result, indent=2))
    return result


def main() -> None:
    figures()


if __name__ == "__main__":
    main()
