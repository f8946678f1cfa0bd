"""Benchmark: instruction step images and whole booklets.

Seeded stepped pyramids of 2x4 / 2x2 / 1x2 bricks (``bench_render.pyramid_model``) of 250, 500
and 1,000 parts, built in steps of 6 parts, bottom layer first (``layer_plan``). Reported:

* the step renderer's one-off set-up (all part meshes, face covers) per model;
* per step at 1024 px: the image (hidden faces culled for the parts built so far, new parts
  highlighted, old ones dimmed), the view check (id buffers at 192 px) and the PNG, median over
  12 steps spread over the plan. Target: image under 0.2 s for up to 1,000 parts on 2 cores;
* a 500-part model's whole booklet (views, images, steps/ + JSON, PDF, HTML). Target: under
  30 s on 2 cores;
* a 5,000-part pyramid (64 studs, 839 steps): every step picture drawn incrementally, cut to
  its page crop and stored as JPEG, then the PDF and HTML booklets and their sizes. Targets:
  pictures under 30 s on 2 cores, PDF under 25 MB, booklet files under 40 MB
  (``--big-only`` runs only this one).

Wall and CPU seconds (CPU sums all threads: on a shared machine it shows the work when wall time
is inflated by other load). Run: ``.venv/bin/python benchmarks/bench_instructions.py``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_render import pyramid_model
from voxforge.core.outputs import OutputDir
from voxforge.instructions.booklet import (
    InstructionsConfig,
    layer_plan,
    make_scene,
    png_bytes,
    write_instructions,
)
from voxforge.instructions.steps import best_view, walk_plan


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(t: tuple[float, float]) -> tuple[float, float]:
    return time.perf_counter() - t[0], time.process_time() - t[1]


def step_images(n_parts: int, samples: int = 12) -> dict:
    model = pyramid_model(n_parts)
    plan = layer_plan(model, 6)
    t = _clock()
    scene = make_scene(model, InstructionsConfig(image_size=1024))
    setup = _since(t)
    refs = walk_plan(plan, len(model))
    picks = np.linspace(0, len(refs) - 1, samples).round().astype(int)
    scene.render(refs[0].present, refs[0].new)  # warm: numba kernels loaded
    image_s, view_s, png_s = [], [], []
    for k in picks:
        ref = refs[k]
        t = _clock()
        image = scene.render(ref.present, ref.new)
        image_s.append(_since(t))
        t = _clock()
        best_view(scene, ref.present, ref.new)
        view_s.append(_since(t))
        t = _clock()
        png_bytes(image, quantize=True)
        png_s.append(_since(t))

    def med(values: list[tuple[float, float]], i: int) -> float:
        return round(float(np.median([v[i] for v in values])), 4)

    return {
        "parts": len(model),
        "steps": len(plan.steps),
        "triangles": len(scene.faces),
        "setup_wall_s": round(setup[0], 3),
        "image_wall_s": med(image_s, 0),
        "image_cpu_s": med(image_s, 1),
        "view_check_wall_s": med(view_s, 0),
        "png_wall_s": med(png_s, 0),
    }


def booklet(n_parts: int = 500) -> dict:
    model = pyramid_model(n_parts)
    plan = layer_plan(model, 6)
    with tempfile.TemporaryDirectory() as tmp:
        t = _clock()
        with OutputDir(Path(tmp) / "out") as od:
            figures = write_instructions(model, plan, od, "pyramid", InstructionsConfig())
        wall, cpu = _since(t)
        size = {p.name: p.stat().st_size for p in (Path(tmp) / "out").iterdir() if p.is_file()}
    return {
        "parts": len(model),
        "steps": len(plan.steps),
        "pages": figures["pages"],
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "stages_s": figures["timings_s"],
        "pdf_mb": round(size["instructions.pdf"] / 1e6, 1),
        "html_mb": round(size["instructions.html"] / 1e6, 1),
    }


def big_booklet(n_parts: int = 5000) -> dict:
    """Every step picture of a ``n_parts`` model drawn incrementally (the painter), cut and
    encoded for the page, and the whole booklet's files. Targets: pictures under 30 s, PDF under
    25 MB, booklet files (PDF, HTML, steps/) under 40 MB (so the brickify folder with its GLB
    stays under 60 MB)."""
    model = pyramid_model(n_parts, base=64)
    plan = layer_plan(model, 6)
    cfg = InstructionsConfig(turn_hidden=False)  # view choice is timed per step above
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        t = _clock()
        with OutputDir(out) as od:
            figures = write_instructions(model, plan, od, "pyramid", cfg)
        wall, cpu = _since(t)
        files = {p.name: p.stat().st_size for p in out.iterdir() if p.is_file()}
        files["steps/"] = sum(p.stat().st_size for p in (out / "steps").iterdir())
    stages = figures["timings_s"]
    return {
        "parts": len(model),
        "steps": len(plan.steps),
        "pages": figures["pages"],
        "pictures_s": stages["images_s"],
        "pictures_cpu_s": stages.get("images_cpu_s"),
        "pictures_target_s": 30,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "stages_s": stages,
        "files_mb": {k: round(v / 1e6, 2) for k, v in sorted(files.items())},
        "total_mb": round(sum(files.values()) / 1e6, 1),
        "pdf_target_mb": 25,
    }


RUNS = {"instructions": [], "instructions_big": ["--big-only"]}
ABOUT = {
    "instructions_big": """A 5,000-part booklet: step pictures, PDF and HTML

    A seeded 5,000-part stepped pyramid (64 studs, 839 steps): every step picture drawn
    incrementally, cut to its page crop and stored as JPEG, then the PDF and HTML booklets and
    their sizes. Targets (#18): pictures under 30 s on 2 cores, PDF under 25 MB, booklet files
    under 40 MB."""
}
TARGETS = {
    "instructions": {
        "booklet_500_parts.wall_s": "< 30 s",
        "booklet_5000_parts.pictures_s": "< 30 s (#18)",
        "booklet_5000_parts.files_mb.instructions.pdf": "< 25 MB (#18)",
    },
    "instructions_big": {
        "booklet_5000_parts.pictures_s": "< 30 s (#18)",
        "booklet_5000_parts.files_mb.instructions.pdf": "< 25 MB (#18)",
    },
}


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    argv = sys.argv[1:] if argv is None else argv
    result: dict = {"threads": numba.get_num_threads()}
    if "--big-only" not in argv:
        result["step_images_1024px"] = [step_images(n) for n in (250, 500, 1000)]
        result["booklet_500_parts"] = booklet(500)
    result["booklet_5000_parts"] = big_booklet(5000)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    figures()
