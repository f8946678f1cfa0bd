"""Temperature scaling and the "unknown shape" rule."""

from __future__ import annotations

import numpy as np
import pytest

from voxforge.core.errors import ConfigError
from voxforge.nn.classify.calibration import (
    OpenSetRule,
    energy,
    fit_open_set,
    fit_temperature,
    nll,
    softmax,
)


def _overconfident(n: int = 400, c: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a classifier right 80% of the time but scaled to claim ~100% confidence."""
    rng = np.random.default_rng(seed)
    y = rng.integers(c, size=n)
    guess = np.where(rng.random(n) < 0.8, y, rng.integers(c, size=n))
    logits = rng.normal(0, 1, (n, c))
    logits[np.arange(n), guess] += 3.0
    return logits * 4.0, y


def test_temperature_scaling_lowers_nll() -> None:
    logits, y = _overconfident()
    t = fit_temperature(logits, y)
    assert t > 1.5  # the logits were inflated 4x
    assert nll(logits, y, t) < nll(logits, y, 1.0) - 0.1
    assert (softmax(logits, t).argmax(1) == softmax(logits).argmax(1)).all()


@pytest.mark.parametrize("score", ["energy", "max_probability"])
def test_unknown_threshold_keeps_validation_under_two_percent(score: str) -> None:
    logits, y = _overconfident(n=500, seed=1)
    rule = fit_open_set(logits, y, score=score, max_unknown_rate=0.02)
    rate = rule.is_unknown(logits).mean()
    assert 0.0 < rate <= 0.02
    flat = np.zeros((3, logits.shape[1]))  # no class stands out: an unfamiliar input
    assert rule.is_unknown(flat).all()
    again = OpenSetRule.from_info({"calibration": rule.to_dict()})
    assert again is not None and again.score == score


def test_energy_matches_its_definition_and_rules_validate() -> None:
    logits = np.array([[1.0, 2.0, 3.0]])
    assert energy(logits)[0] == pytest.approx(-np.log(np.exp(logits).sum()))
    assert OpenSetRule.from_info({}) is None
    with pytest.raises(ConfigError):
        OpenSetRule(1.0, "entropy", 0.0)
    with pytest.raises(ConfigError):
        fit_open_set(logits, np.array([0]), max_unknown_rate=1.5)


def test_parts_keep_each_source_under_the_unknown_rate() -> None:
    grids, y = _overconfident(n=500, seed=2)
    meshes, y2 = _overconfident(n=500, seed=3)
    meshes = meshes * 0.5  # the same classifier, less sure of the second source's shapes
    logits, labels = np.concatenate([grids, meshes]), np.concatenate([y, y2])
    parts = np.repeat([0, 1], 500)
    pooled = fit_open_set(logits, labels, score="energy", max_unknown_rate=0.02)
    assert pooled.is_unknown(meshes).mean() > 0.02  # one threshold for both: the meshes pay
    split = fit_open_set(logits, labels, score="energy", max_unknown_rate=0.02, parts=parts)
    assert split.is_unknown(meshes).mean() <= 0.02 and split.is_unknown(grids).mean() <= 0.02
    assert split.temperature == pooled.temperature  # fitted on every shape either way
    low = fit_open_set(logits, labels, score="max_probability", max_unknown_rate=0.02, parts=parts)
    assert low.is_unknown(meshes).mean() <= 0.02 and low.is_unknown(grids).mean() <= 0.02
