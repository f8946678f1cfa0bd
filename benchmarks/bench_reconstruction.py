"""Quality and speed of the shipped image and sketch -> 3D models on validation objects.

Validation objects are the classifier's stratified split of the shared ModelNet10 training npz
(15 %, seed 0), the objects the render set holds out; each is rendered here from ``--views``
seeded random views with plain backgrounds (``renderset.EVAL_CONFIG``). Reported per shipped
model: mean IoU of single views and of the views fused, at the model's threshold, and
milliseconds per call of ``Reconstructor.predict`` on ``--threads`` CPU threads (one image,
five images). Targets: single view >= 0.60, five views >= 0.65, sketches >= 0.50, < 50 ms per
image on 2 cores.

Usage: ``.venv/bin/python benchmarks/bench_reconstruction.py [--threads 2] [--objects 60]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from voxforge.nn.datasets import stratified_split
from voxforge.nn.metrics import iou
from voxforge.nn.reconstruct.inference import load_reconstructor
from voxforge.nn.reconstruct.renderset import EVAL_CONFIG, object_rng, render_views, view_target
from voxforge.nn.reconstruct.train import THRESHOLDS

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "modelnet10_vox30_train.npz"


def bench(kind: str, voxels: np.ndarray, views: int, threads: int) -> dict:
    rec = load_reconstructor(kind)  # type: ignore[arg-type]
    thr = float(rec.info.get("threshold", 0.5))
    single: dict[float, list[float]] = {t: [] for t in THRESHOLDS}
    fused: dict[float, list[float]] = {t: [] for t in THRESHOLDS}
    first_image = None
    for i, vox in enumerate(voxels):
        rv = render_views(vox, object_rng(1234, i), views, config=EVAL_CONFIG)
        pix = list(rv.sketches if kind == "sketch" else rv.images)
        first_image = pix[0] if first_image is None else first_image
        targets = np.stack([view_target(vox, float(a)) for a in rv.azimuth])
        one = np.stack([rec.predict([p]).occupancy for p in pix])
        many = rec.predict(pix, [float(a) for a in rv.azimuth]).occupancy
        for t in THRESHOLDS:
            single[t] += iou(one, targets, t).tolist()
            fused[t] += iou(many[None], targets[:1], t).tolist()
    torch.set_num_threads(threads)
    lat = {}
    for n in (1, 5):
        rec.predict([first_image] * n)
        t0 = time.perf_counter()
        for _ in range(10):
            rec.predict([first_image] * n)
        lat[f"ms_{n}_view{'s' if n > 1 else ''}"] = round(100 * (time.perf_counter() - t0), 1)
    return {
        "model": f"reconstruction-{kind}",
        "threshold": thr,
        "objects": len(voxels),
        "single_view_iou": {str(t): round(float(np.mean(v)), 4) for t, v in single.items()},
        f"fused_{views}_views_iou": {str(t): round(float(np.mean(v)), 4) for t, v in fused.items()},
        **lat,
        "threads": threads,
    }


QUICK = {"reconstruction": ["--objects", "12"]}
TARGETS = {
    "reconstruction": {
        "results.single_view_iou.0.4": ">= 0.60 image, >= 0.50 sketch (#22)",
        "results.fused_5_views_iou.0.4": ">= 0.65 image (#22)",
    }
}


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--objects", type=int, default=60)
    ap.add_argument("--views", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    with np.load(DATA) as z:
        vox, labels = z["voxels"], z["labels"]
    _, val = stratified_split(labels, 0.15, 0)
    pick = np.random.default_rng(0).permutation(val)[: args.objects]
    pick = pick[vox[pick].reshape(len(pick), -1).any(axis=1)]
    out = [bench(kind, vox[pick], args.views, args.threads) for kind in ("image", "sketch")]
    result = {"cpu": platform.processor() or platform.machine(), "results": out}
    print(json.dumps(result, indent=2))
    return result


def main() -> None:
    figures()


if __name__ == "__main__":
    main()
