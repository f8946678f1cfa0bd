"""Benchmark: completion of one-sided scans, the network against the symmetry baseline and none.

The protocol of ``voxforge evaluate completion --data ../shared/data/modelnet10_vox30_train.npz
--split val --json`` (``voxforge.nn.completion.evaluate.evaluate_completion``): every validation
object of the training split (stratified 15 %, seed 0) is scanned from one side view with the
phone-LiDAR simulator (seed 1) and completed three ways: the shipped network
(``models/completion-unet``), mirror symmetry about the best vertical plane plus hole filling,
and no completion (the partial scan). Each is scored against the full shape at 32³: IoU,
Chamfer-L1/L2 between surface cells (unit-cube units), F-score at one cell, seconds per shape,
and IoU per class. Targets (#19): network IoU >= 0.80 from one side view, and at least 0.05
above the symmetry baseline. ``--per-class N`` scores only the first N validation objects of
each class (their scans drawn in the same way, though not the same draws as the full run).

Usage: ``.venv/bin/python benchmarks/bench_completion.py [--threads 2] [--per-class N]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from voxforge.nn.completion.evaluate import evaluate_completion
from voxforge.nn.completion.infer import load_completer
from voxforge.nn.datasets import stratified_split

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "modelnet10_vox30_train.npz"

QUICK = {"completion": ["--per-class", "5"]}
TARGETS = {
    "completion": {
        "methods.network.iou": ">= 0.80 from one side view (#19)",
        "network_minus_symmetry_iou": ">= 0.05 (#19)",
    }
}


def per_class_subset(path: Path, per_class: int, out: Path) -> int:
    """Write the first ``per_class`` validation objects of each class of ``path`` to ``out`` (the
    same npz format); returns how many it holds."""
    with np.load(path) as z:
        voxels, labels, classes = z["voxels"], z["labels"], z["classes"]
    _, val = stratified_split(labels.astype(np.int64), 0.15, 0)
    pick = np.concatenate([val[labels[val] == c][:per_class] for c in np.unique(labels[val])])
    np.savez_compressed(out, voxels=voxels[pick], labels=labels[pick], classes=classes)
    return len(pick)


def scored_per_class(path: Path, split: str) -> dict[str, int]:
    """Class name -> how many objects of ``split`` the evaluation scores (empty shapes skipped)."""
    with np.load(path) as z:
        voxels, labels, classes = z["voxels"], z["labels"].astype(np.int64), z["classes"]
    idx = np.arange(len(labels)) if split == "all" else stratified_split(labels, 0.15, 0)[1]
    idx = idx[voxels[idx].reshape(len(idx), -1).any(axis=1)]
    return {
        str(classes[c]): int(n) for c, n in zip(*np.unique(labels[idx], return_counts=True), strict=True)
    }


def by_class(report: dict[str, Any], counts: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Per-class IoU as one row per class (a column per method) with the class's object count."""
    methods = list(report["per_class_iou"])
    classes = list(report["per_class_iou"][methods[0]])
    return {
        c: {**{m: report["per_class_iou"][m][c] for m in methods}, "objects": counts.get(c, 0)}
        for c in classes
    }


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--per-class", type=int, default=None, help="first N val objects per class")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    completer = load_completer()
    with tempfile.TemporaryDirectory() as tmp:
        path, split = DATA, "val"
        if args.per_class is not None:
            path, split = Path(tmp) / "val_subset.npz", "all"
            per_class_subset(DATA, args.per_class, path)
        t0 = time.perf_counter()
        report = evaluate_completion(path, completer, split=split, views=1, seed=1)
        wall = time.perf_counter() - t0
        counts = scored_per_class(path, split)
    methods = report["methods"]
    result = {
        "data": "../shared/data/modelnet10_vox30_train.npz",
        "objects": "validation split"
        + ("" if args.per_class is None else f", first {args.per_class} of each class"),
        "shapes": report["shapes"],
        "skipped_empty_shapes": report["skipped_empty_shapes"],
        "views": report["views"],
        "scan_seed": report["seed"],
        "model": {
            "name": completer.info.get("name", "completion-unet"),
            "threshold": completer.threshold,
            "test_time_augmentation": completer.tta,
        },
        "torch_threads": args.threads,
        "methods": methods,
        "network_minus_symmetry_iou": round(methods["network"]["iou"] - methods["symmetry"]["iou"], 4),
        "per_class_iou": by_class(report, counts),
        "evaluate_wall_s": round(wall, 1),
    }
    print(json.dumps(result, indent=2))
    return result


def main() -> None:
    figures()


if __name__ == "__main__":
    main()
