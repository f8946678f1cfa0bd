"""Calibrated confidence: temperature recovered, expected IoU tracks the measured IoU."""

from __future__ import annotations

import numpy as np
import pytest

from voxforge.core.errors import ConfigError
from voxforge.nn.reconstruct.calibration import (
    confidence,
    expected_iou,
    fit_confidence,
    fit_temperature,
    scale_probabilities,
)


def _overconfident(n: int, seed: int = 0, sharpen: float = 2.5) -> tuple[np.ndarray, np.ndarray]:
    """Grids whose true occupancy chances are q, predicted as sigmoid(sharpen * logit(q))."""
    rng = np.random.default_rng(seed)
    probs, targets = [], []
    for i in range(n):
        q = np.clip(rng.beta(0.3 + 0.2 * (i % 5), 0.6, size=(16, 16, 16)), 1e-4, 1 - 1e-4)
        targets.append(rng.random(q.shape) < q)
        probs.append(scale_probabilities(q, 1.0 / sharpen))
    return np.stack(probs), np.stack(targets)


def test_temperature_undoes_overconfidence() -> None:
    probs, targets = _overconfident(12)
    assert fit_temperature(probs, targets) == pytest.approx(2.5, rel=0.1)
    with pytest.raises(ConfigError):
        fit_temperature(probs[:2], targets[:3])


def test_expected_iou_of_certain_grids_is_their_iou() -> None:
    p = np.zeros((4, 4, 4), np.float32)
    p[:2] = 1.0
    assert expected_iou(p, p >= 0.4) == pytest.approx(1.0)
    half = np.full((4, 4, 4), 0.5, np.float32)
    assert expected_iou(half, half >= 0.4) == pytest.approx(0.5)


def test_calibrated_confidence_tracks_iou_better_than_raw_certainty() -> None:
    probs, targets = _overconfident(30, seed=1)
    cal = fit_confidence(probs, targets, 0.4, "synthetic")
    assert cal["temperature"] == pytest.approx(2.5, rel=0.15)
    assert cal["mean_confidence"] == pytest.approx(cal["mean_iou"], abs=0.01)
    assert cal["mae"] < cal["mae_raw"] and cal["mae_heldout"] < cal["mae_raw"]
    # held-out grids of the same kind: confidence close to their IoU on average
    test_p, test_t = _overconfident(10, seed=2)
    conf = np.array([confidence(p, cal) for p in test_p])
    pred = test_p >= 0.4
    iou = (pred & test_t).sum(axis=(1, 2, 3)) / (pred | test_t).sum(axis=(1, 2, 3))
    assert abs(conf.mean() - iou.mean()) < 0.05 and ((conf >= 0) & (conf <= 1)).all()
