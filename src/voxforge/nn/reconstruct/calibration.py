"""A reconstruction's confidence that means something: the expected IoU with the true shape.

A network's raw voxel probabilities are over-sure (a lumpy blob can look "95 % certain"). Two
steps, both fitted on validation objects (never the test set) and kept in the model's JSON
sidecar under ``calibration``:

1. Temperature scaling of the voxel probabilities: ``q = sigmoid(logit(p) / T)`` with ``T``
   minimising the voxels' binary cross-entropy against the true grids.
2. The expected IoU of the thresholded grid ``S = {p >= t}`` under those probabilities (each
   voxel independent), ``sum_{S} q / (|S| + sum_{not S} q)``, mapped onto the IoU measured on
   the same views by a least-squares line (clipped to [0, 1]).

The result is the reconstruction's ``confidence``: on validation views its mean equals the mean
IoU, and :func:`fit_confidence` reports how far single predictions are from their IoU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from voxforge.core.errors import ConfigError

_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, np.float64), _EPS, 1.0 - _EPS)
    return np.log(q / (1.0 - q))


def scale_probabilities(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``sigmoid(logit(p) / T)``, float32."""
    if temperature <= 0:
        raise ConfigError(f"temperature must be positive, got {temperature}")
    return (1.0 / (1.0 + np.exp(-_logit(probs) / temperature))).astype(np.float32)


def _bce(logits: np.ndarray, target: np.ndarray, t: float) -> float:
    z = logits / t
    return float(np.mean(np.logaddexp(0.0, z) - target * z))


def fit_temperature(probs: np.ndarray, targets: np.ndarray, max_voxels: int = 2_000_000) -> float:
    """The temperature minimising the voxel BCE of (N, s, s, s) probabilities against bool
    targets (a seeded subsample of ``max_voxels`` voxels; golden-section search on log T)."""
    p = np.asarray(probs).reshape(-1)
    y = np.asarray(targets, bool).reshape(-1).astype(np.float64)
    if p.shape != y.shape or len(p) == 0:
        raise ConfigError(f"probabilities {np.shape(probs)} and targets {np.shape(targets)} differ")
    if len(p) > max_voxels:
        pick = np.random.default_rng(0).choice(len(p), size=max_voxels, replace=False)
        p, y = p[pick], y[pick]
    z = _logit(p)
    lo, hi = np.log(0.05), np.log(20.0)
    g = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = _bce(z, y, np.exp(a)), _bce(z, y, np.exp(b))
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = _bce(z, y, np.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = _bce(z, y, np.exp(b))
    return float(np.exp(0.5 * (lo + hi)))


def expected_iou(probs: np.ndarray, selected: np.ndarray) -> float:
    """Expected IoU of the ``selected`` voxels (the thresholded prediction) with the truth if
    every voxel is occupied with its probability in ``probs``, independently (0 when nothing is
    selected and nothing is likely)."""
    q = np.asarray(probs, np.float64).reshape(-1)
    on = np.asarray(selected, bool).reshape(-1)
    denom = on.sum() + q[~on].sum()
    return float(q[on].sum() / denom) if denom > 0 else 0.0


def fit_confidence(
    probs: np.ndarray, targets: np.ndarray, threshold: float = 0.4, fitted_on: str = ""
) -> dict[str, Any]:
    """Fit the calibration on (N, s, s, s) validation predictions and their bool targets.

    Returns the ``calibration`` block of a model's JSON sidecar: ``temperature``, ``line``
    (slope, intercept from expected IoU to IoU), the fit's numbers (``mean_iou``,
    ``mean_confidence``, ``mae``: mean |confidence - IoU|, ``mae_heldout``: the same with the
    line fitted on the other half of the predictions (two-fold), ``mae_raw``: the same for the
    uncalibrated mean voxel certainty, ``pearson``) and ``fitted_on``.
    """
    probs = np.asarray(probs, np.float32)
    targets = np.asarray(targets, bool)
    if len(probs) < 3:
        raise ConfigError(f"calibration needs at least 3 predictions, got {len(probs)}")
    t = fit_temperature(probs, targets)
    exp = np.array([expected_iou(scale_probabilities(p, t), p >= threshold) for p in probs])
    pred = probs >= threshold
    inter = (pred & targets).reshape(len(pred), -1).sum(1)
    union = (pred | targets).reshape(len(pred), -1).sum(1)
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    slope, intercept = np.polyfit(exp, iou, 1)
    conf = np.clip(slope * exp + intercept, 0.0, 1.0)
    raw = np.array([float(np.abs(p - 0.5).mean() * 2.0) for p in probs])
    half = np.arange(len(probs)) % 2 == 0  # two-fold: each half's line scored on the other half
    held = np.empty(len(probs))
    for fit in (half, ~half):
        s_, i_ = np.polyfit(exp[fit], iou[fit], 1)
        held[~fit] = np.clip(s_ * exp[~fit] + i_, 0.0, 1.0)
    return {
        "temperature": round(t, 4),
        "line": [round(float(slope), 4), round(float(intercept), 4)],
        "threshold": threshold,
        "predictions": len(probs),
        "mean_iou": round(float(iou.mean()), 4),
        "mean_confidence": round(float(conf.mean()), 4),
        "mae": round(float(np.abs(conf - iou).mean()), 4),
        "mae_heldout": round(float(np.abs(held - iou).mean()), 4),
        "mae_raw": round(float(np.abs(raw - iou).mean()), 4),
        "pearson": round(float(np.corrcoef(conf, iou)[0, 1]), 4) if np.std(conf) > 0 else 0.0,
        "fitted_on": fitted_on,
    }


def confidence(probs: np.ndarray, calibration: dict[str, Any]) -> float:
    """The calibrated confidence (expected IoU with the true shape) of one prediction."""
    t = float(calibration["temperature"])
    slope, intercept = (float(v) for v in calibration["line"])
    threshold = float(calibration.get("threshold", 0.4))
    e = expected_iou(scale_probabilities(probs, t), np.asarray(probs) >= threshold)
    return float(np.clip(slope * e + intercept, 0.0, 1.0))


def collect_predictions(
    reconstructor: Any, data_npz: str, *, objects: int = 200, seed: int = 7, sketch: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 32, 32, 32) single-view probabilities of ``objects`` seeded objects of ``data_npz``
    (validation objects) and their targets, from one rendered view each (plain backgrounds, the
    views of ``voxforge evaluate reconstruction`` with another ``seed``)."""
    from voxforge.io import load_voxel_dataset
    from voxforge.nn.reconstruct.eval import eval_rng
    from voxforge.nn.reconstruct.renderset import EVAL_CONFIG, render_views, view_target

    ds = load_voxel_dataset(data_npz)
    order = np.flatnonzero(ds.voxels.reshape(len(ds.voxels), -1).any(axis=1))
    if objects < len(order):
        order = np.sort(np.random.default_rng(seed).choice(order, size=objects, replace=False))
    probs, targets = [], []
    for i in order:
        r = render_views(ds.voxels[i], eval_rng(seed, int(i)), 1, EVAL_CONFIG.size, EVAL_CONFIG)
        rec = reconstructor.predict([r.sketches[0] if sketch else r.images[0]])
        probs.append(np.asarray(rec.occupancy, np.float32))
        targets.append(view_target(ds.voxels[i], float(r.azimuth[0])))
    return np.stack(probs), np.stack(targets)


def main(argv: list[str] | None = None) -> None:
    """``python -m voxforge.nn.reconstruct.calibration STEM VALIDATION_NPZ [--objects N]
    [--seed S] [--sketch] [--about TEXT]``: fit the calibration of a shipped model on
    validation objects and write it into its JSON sidecar (``calibration``, or
    ``calibration_sketch`` with --sketch)."""
    import argparse
    import json
    from pathlib import Path

    import torch

    from voxforge.core.outputs import atomic_write_bytes
    from voxforge.nn.reconstruct.inference import load_reconstructor

    ap = argparse.ArgumentParser(prog="voxforge.nn.reconstruct.calibration")
    ap.add_argument("stem", type=Path)
    ap.add_argument("data", type=Path)
    ap.add_argument("--objects", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--sketch", action="store_true")
    ap.add_argument("--about", help="What the data file holds (for fitted_on), default its name.")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    kind = "sketch" if a.sketch else "image"
    rec = load_reconstructor(kind, a.stem, "cpu")  # type: ignore[arg-type]
    probs, targets = collect_predictions(rec, str(a.data), objects=a.objects, seed=a.seed,
                                         sketch=a.sketch)  # fmt: skip
    where = f"{len(probs)} objects of {a.about or a.data.name}, one {kind} view each, seed {a.seed}"
    cal = fit_confidence(probs, targets, float(rec.info.get("threshold", 0.4)), where)
    js = a.stem.with_suffix(".json")
    info = json.loads(js.read_text(encoding="utf-8"))
    info["calibration_sketch" if a.sketch else "calibration"] = cal
    atomic_write_bytes(js, (json.dumps(info, indent=2) + "\n").encode("utf-8"))
    print(json.dumps(cal))


if __name__ == "__main__":
    main()
