"""Completion quality on simulated one-sided scans of a voxel set (the shared npz format).

Every shape is scanned from one side (``views`` cameras, fixed seed) and completed three ways:
the network, the mirror-symmetry baseline and no completion (the partial scan as it is). Each
result is scored against the full shape with the metrics of :mod:`voxforge.nn.metrics`:
IoU, Chamfer-L1/L2 between the grids' surface cells (unit-cube units) and the F-score at one
cell.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from voxforge.core.progress import ProgressCallback, null_progress
from voxforge.nn.completion.dataset import simulate_set
from voxforge.nn.completion.infer import Completer
from voxforge.nn.completion.sim import ScanSimConfig
from voxforge.nn.completion.symmetry import mirror_complete
from voxforge.nn.datasets import load_voxel_set, stratified_split
from voxforge.nn.metrics import iou, surface_distances


def score(pred: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sample ``iou``, ``chamfer_l1``, ``chamfer_l2``, ``fscore`` of bool (B, R, R, R) grids."""
    out = {"iou": iou(pred, target)}
    out.update(surface_distances(pred, target))
    return out


def evaluate_completion(
    path: str | Path,
    completer: Completer | None,
    *,
    split: str = "all",
    limit: int | None = None,
    views: int = 1,
    seed: int = 1,
    sim: ScanSimConfig | None = None,
    progress: ProgressCallback = null_progress,
) -> dict[str, Any]:
    """Scan, complete and score the shapes of ``path`` (``split="val"``: the validation objects of
    the training split, stratified 15 %, seed 0).

    Shapes without a filled cell (the shared ModelNet10 set holds 7) are skipped and counted.
    Returns a JSON-safe report: per method the means of every metric and the seconds per shape,
    and the IoU per class.
    """
    data = load_voxel_set(path)
    idx = np.arange(len(data.labels))
    if split == "val":
        idx = stratified_split(data.labels, 0.15, 0)[1]
    empty = data.voxels.reshape(len(data.voxels), -1).max(axis=1) == 0
    skipped = int(empty[idx].sum())
    idx = idx[~empty[idx]]
    if limit is not None:
        idx = idx[:limit]
    targets = data.voxels[idx].astype(bool)
    partial, empty = simulate_set(
        data.voxels,
        idx,
        np.full(len(idx), views),
        seed,
        sim,
        progress.sub("simulate") if hasattr(progress, "sub") else null_progress,
    )
    preds: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    if completer is not None:
        t0 = time.perf_counter()
        preds["network"] = completer.complete(partial, empty)
        seconds["network"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    preds["symmetry"] = np.stack([mirror_complete(p, e)[0] for p, e in zip(partial, empty, strict=True)])
    seconds["symmetry"] = time.perf_counter() - t0
    preds["none"] = partial
    seconds["none"] = 0.0
    labels = data.labels[idx]
    report: dict[str, Any] = {
        "data": str(path),
        "split": split,
        "shapes": len(idx),
        "skipped_empty_shapes": skipped,
        "views": views,
        "seed": seed,
        "methods": {},
        "per_class_iou": {},
    }
    for name, pred in preds.items():
        per = score(pred, targets)
        report["methods"][name] = {
            **{k: round(float(np.mean(v)), 5) for k, v in per.items()},
            "seconds_per_shape": round(seconds[name] / max(len(idx), 1), 5),
        }
        report["per_class_iou"][name] = {
            data.classes[c]: round(float(np.mean(per["iou"][labels == c])), 4) for c in np.unique(labels)
        }
    return report
