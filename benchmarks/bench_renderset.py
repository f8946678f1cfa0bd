"""Render set speed and the reconstruction baselines on its validation split.

1. Speed: :func:`voxforge.nn.reconstruct.renderset.render_views` (smooth mesh, 6 views at 128 px with
   sketches) over seeded ModelNet10 objects, warm, in one process with 1 and 2 numba threads;
   milliseconds per view, and the projected time of the full 3,991 x 6 set with 2 processes.
2. Baselines (the bar the image and sketch models must clear): class mean (oracle class) and
   nearest training view (silhouette for images, ink map for sketches), scored with
   :mod:`voxforge.nn.metrics` against the viewer-centred targets of every validation view
   of the render set (the classifier's stratified 15 % split, seed 0); 1 view and 5 fused views.

The render set is built (or reused, it is cached by fingerprint) at ``--renderset``
(default ``$VOXFORGE_RENDERSET`` or ``out/renderset``).

Usage: ``.venv/bin/python benchmarks/bench_renderset.py [--renderset DIR] [--speed-objects 60]``
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numba
import numpy as np

from voxforge.nn.metrics import iou, reconstruction_metrics, summarize
from voxforge.nn.reconstruct.baselines import fit_class_mean, fit_nearest
from voxforge.nn.reconstruct.renderset import (
    RenderSet,
    RenderSetConfig,
    build_render_set,
    load_render_set,
    render_views,
    rotate_grids,
    rotate_probabilities,
)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "modelnet10_vox30_train.npz"


def speed(n_objects: int) -> dict:
    vox = np.load(DATA)["voxels"]
    filled = np.flatnonzero(vox.reshape(len(vox), -1).any(axis=1))
    pick = np.random.default_rng(0).choice(filled, size=n_objects, replace=False)
    render_views(vox[pick[0]], np.random.default_rng(0), 2)  # compile
    out = {}
    for threads in (1, 2):
        numba.set_num_threads(threads)
        t0 = time.perf_counter()
        for i in pick:
            render_views(vox[i], np.random.default_rng([0, int(i)]), 6)
        out[f"ms_per_view_{threads}_thread"] = round(
            (time.perf_counter() - t0) / (6 * n_objects) * 1e3, 2
        )
    per_view = out["ms_per_view_1_thread"] / 1e3
    out["projected_full_set_min_2_processes"] = round(len(filled) * 6 * per_view / 2 / 60, 1)
    return out


def _score(pred: np.ndarray, target: np.ndarray) -> dict:
    return {k: round(v, 4) for k, v in summarize(reconstruction_metrics(pred, target)).items()}


def baselines(val: RenderSet, train: RenderSet) -> dict:
    class_mean = fit_class_mean(train)
    image_nn, sketch_nn = fit_nearest(train), fit_nearest(train, sketch=True)
    targets = val.targets(np.arange(len(val)))
    out = {
        "val_views": len(val),
        "val_objects": len(val.objects),
        "class_mean_threshold": class_mean.threshold,
    }
    out["class_mean_1view"] = _score(class_mean.predict(val.labels), targets)
    for name, bank, inputs in (("image", image_nn, val.masks), ("sketch", sketch_nn, val.sketches)):
        preds = np.stack([bank.predict(inputs[k : k + 1]) for k in range(len(val))])
        out[f"nearest_{name}_1view"] = _score(preds, targets)
    # 5 fused views: the first five views of each object, scored in the first view's frame
    first = np.flatnonzero(np.r_[True, val.object_index[1:] != val.object_index[:-1]])
    for name, bank, inputs in (("image", image_nn, val.masks), ("sketch", sketch_nn, val.sketches)):
        preds = np.stack([bank.predict(inputs[s : s + 5], val.azimuth[s : s + 5]) for s in first])
        out[f"nearest_{name}_5views"] = _score(preds, targets[first])
    fused_cm = class_mean.predict(val.labels[first])
    out["class_mean_5views"] = _score(fused_cm, targets[first])
    return out


def check_fusion_frame(val: RenderSet) -> dict:
    """Mean IoU between each object's first-view target and its second view's target rotated
    into the first frame: the ceiling of fusing perfect per-view predictions by resampling, which
    is below 1 because every target is itself a nearest-neighbour resampling of the grid."""
    first = np.flatnonzero(np.r_[True, val.object_index[1:] != val.object_index[:-1]])
    t0 = val.targets(first)
    t1 = val.targets(first + 1)
    angle = val.azimuth[first + 1].astype(np.float64) - val.azimuth[first]
    nearest = float(iou(rotate_grids(t1, angle), t0).mean())
    bilinear = float(iou(rotate_probabilities(t1, angle), t0, 0.5).mean())
    return {"nearest": round(nearest, 4), "bilinear_t0.5": round(bilinear, 4)}


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    parser = argparse.ArgumentParser(description=__doc__)
    default = os.environ.get("VOXFORGE_RENDERSET", str(REPO / "out" / "renderset"))
    parser.add_argument("--renderset", type=Path, default=Path(default))
    parser.add_argument("--speed-objects", type=int, default=60)
    args = parser.parse_args(argv)
    result = {"speed": speed(args.speed_objects)}
    t0 = time.perf_counter()
    folder = build_render_set(DATA, args.renderset, RenderSetConfig())
    result["build_or_reuse_s"] = round(time.perf_counter() - t0, 1)
    numba.set_num_threads(2)
    train, val = load_render_set(folder, "train"), load_render_set(folder, "val")
    result["fusion_ceiling_iou"] = check_fusion_frame(val)
    result["baselines"] = baselines(val, train)
    print(json.dumps(result, indent=2))
    return result


def main() -> None:
    figures()


if __name__ == "__main__":
    main()
