"""Benchmark a reconstructor on a voxel data set: render seeded views, predict, fuse, score.

Every non-empty object of a file in the shared format (``voxels``, ``labels``, ``classes``) is
rendered with the project's renderer (:func:`voxforge.nn.reconstruct.renderset.render_views`)
from ``views`` seeded random views on plain backgrounds
(:data:`~voxforge.nn.reconstruct.renderset.EVAL_CONFIG`, the input contract of
``Reconstructor.predict``), the model predicts one occupancy grid in the first view's
yaw frame, and :mod:`voxforge.nn.metrics` scores it against that view's target. The
headline ``mean_iou`` is the mean IoU at occupancy threshold 0.4. Labels are used only for the
per-class table and the class-mean baseline, never by the model.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from voxforge.core.errors import ConfigError
from voxforge.core.progress import ProgressCallback, null_progress
from voxforge.nn.metrics import (
    FSCORE_TAU,
    HEADLINE_THRESHOLD,
    point_distances,
    reconstruction_metrics,
    summarize,
    surface_points,
)
from voxforge.nn.reconstruct.baselines import Baselines
from voxforge.nn.reconstruct.renderset import EVAL_CONFIG, RenderSetConfig, render_views, view_target

log = logging.getLogger(__name__)

_EVAL_STREAM = 1
"""Third seed word of the evaluation views, so they never repeat a render set's training views."""


class ReconstructionLike(Protocol):
    occupancy: np.ndarray
    points: np.ndarray | None


class ReconstructorLike(Protocol):
    """What the evaluation needs of a model (``voxforge.nn.reconstruct.inference.Reconstructor``)."""

    def predict(
        self, images: list[np.ndarray], azimuths: list[float] | None = None
    ) -> ReconstructionLike: ...


def eval_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of object ``index``'s evaluation views."""
    return np.random.default_rng([seed, index, _EVAL_STREAM])


def _means(rows: list[dict[str, float]]) -> dict[str, float]:
    if not rows:
        return {}
    keys = rows[0].keys()
    return summarize({k: np.asarray([r[k] for r in rows]) for k in keys})


def evaluate_reconstruction(
    data_npz: str | os.PathLike[str],
    reconstructor: ReconstructorLike,
    views: int = 1,
    sketch: bool = False,
    seed: int = 0,
    limit: int | None = None,
    progress: ProgressCallback | None = None,
    *,
    baselines: Baselines | None = None,
    config: RenderSetConfig | None = None,
) -> dict:
    """Render, reconstruct and score every object of ``data_npz``.

    Args:
        data_npz: dataset npz in the shared format.
        reconstructor: anything with ``predict(images, azimuths) -> Reconstruction``.
        views: views per object (fused by the reconstructor).
        sketch: feed the sketches of the views instead of the renders.
        seed: seeds the views (object ``i`` uses ``default_rng([seed, i, 1])``).
        limit: evaluate only this many objects (a seeded random subset, all classes mixed).
        progress: ``callback("evaluate", fraction)``.
        baselines: also score the class-mean and nearest-view baselines on the same views.
        config: view settings (default: :data:`~voxforge.nn.reconstruct.renderset.EVAL_CONFIG`).

    Returns:
        A JSON-ready dict: ``mean_iou`` (IoU at 0.4), ``iou@0.3/0.4/0.5``, ``dice``,
        ``chamfer_l1``, ``chamfer_l2``, ``fscore`` (tau = 1/32), ``points_*`` when the model
        gives points, ``per_class``, ``latency_ms_per_image`` (median and mean over objects:
        predict time / views), ``baselines`` (same metrics), counts and settings.
    """
    from voxforge.io import load_voxel_dataset

    if not 1 <= views <= 24:
        raise ConfigError(f"views must be 1..24, got {views}")
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be >= 1, got {limit}")
    cfg = config or EVAL_CONFIG
    report = progress or null_progress
    ds = load_voxel_dataset(data_npz)
    filled = ds.voxels.reshape(len(ds.voxels), -1).any(axis=1)
    order = np.flatnonzero(filled)
    if limit is not None and limit < len(order):
        order = np.sort(np.random.default_rng(seed).choice(order, size=limit, replace=False))

    rows: list[dict[str, float]] = []
    base_rows: dict[str, list[dict[str, float]]] = {"class_mean": [], "nearest": []}
    labels: list[int] = []
    latency: list[float] = []
    for n, i in enumerate(order):
        r = render_views(ds.voxels[i], eval_rng(seed, int(i)), views, cfg.size, cfg)
        inputs = list(r.sketches if sketch else r.images)
        t0 = time.perf_counter()
        rec = reconstructor.predict(inputs, [float(a) for a in r.azimuth])
        latency.append((time.perf_counter() - t0) * 1000.0 / views)
        target = view_target(ds.voxels[i], float(r.azimuth[0]))
        row = _scores(np.asarray(rec.occupancy, dtype=np.float32), target)
        if getattr(rec, "points", None) is not None:
            l1, l2, f = point_distances(np.asarray(rec.points, np.float64), surface_points(target))
            row.update({"points_chamfer_l1": l1, "points_chamfer_l2": l2, "points_fscore": f})
        rows.append(row)
        labels.append(int(ds.labels[i]))
        if baselines is not None:
            cm = baselines.class_mean.predict(np.asarray([ds.labels[i]]))[0]
            base_rows["class_mean"].append(_scores(cm, target))
            query = r.sketches if sketch else r.masks
            nn = baselines.nearest.predict(query, r.azimuth)
            base_rows["nearest"].append(_scores(nn, target))
        report("evaluate", (n + 1) / len(order))

    result: dict = {
        "data": str(data_npz),
        "input": "sketch" if sketch else "image",
        "views": views,
        "seed": seed,
        "objects": len(rows),
        "skipped_empty": int((~filled).sum()),
        "threshold": HEADLINE_THRESHOLD,
        "fscore_tau": FSCORE_TAU,
        **_means(rows),
        "per_class": _per_class(rows, labels, list(ds.classes)),
        "latency_ms_per_image": {
            "median": float(np.median(latency)) if latency else float("nan"),
            "mean": float(np.mean(latency)) if latency else float("nan"),
        },
    }
    if baselines is not None:
        source = "sketch ink map" if sketch else "true silhouette"
        result["baselines"] = {
            "class_mean": {
                **_means(base_rows["class_mean"]),
                "threshold": baselines.class_mean.threshold,
                "note": "oracle: given the true class",
            },
            "nearest": {
                **_means(base_rows["nearest"]),
                "note": f"retrieval of the nearest training view by {source}",
            },
        }
    return result


def _scores(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    m = reconstruction_metrics(pred[None], target[None])
    return {k: float(v[0]) for k, v in m.items()}


def _per_class(rows: list[dict[str, float]], labels: list[int], classes: list[str]) -> dict:
    lab = np.asarray(labels, dtype=np.int64)
    out = {}
    for c, name in enumerate(classes):
        sel = [r for r, k in zip(rows, lab, strict=True) if k == c]
        if sel:
            m = _means(sel)
            out[name] = {"objects": len(sel), "mean_iou": m["mean_iou"], "chamfer_l1": m["chamfer_l1"],
                         "fscore": m["fscore"]}  # fmt: skip
    return out


def baselines_from_render_set(folder: str | os.PathLike[str], *, sketch: bool = False) -> Baselines:
    """Fit both baselines on the train split of a render set
    (see :mod:`voxforge.nn.reconstruct.renderset`)."""
    from voxforge.nn.reconstruct.baselines import fit_baselines
    from voxforge.nn.reconstruct.renderset import load_render_set

    return fit_baselines(load_render_set(Path(folder), "train"), sketch=sketch)
