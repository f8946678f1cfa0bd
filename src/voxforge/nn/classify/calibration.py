"""Calibrated probabilities and an "unknown shape" answer for the classifiers.

Temperature scaling (Guo et al. 2017) divides the logits by one scalar ``T`` fitted to minimise
the negative log-likelihood on held-out shapes; it changes confidence, never the ranking. The
open-set rule compares a score of the (voting-averaged) logits with a threshold set on the same
held-out shapes so that at most ``max_unknown_rate`` of them are called unknown:

* ``energy``: the free energy ``-T * logsumexp(logits / T)`` (Liu et al. 2020); higher = less
  familiar, unknown when it is above the threshold;
* ``max_probability``: the calibrated top probability; unknown when it is below the threshold;
* ``outlier``: the score of a logistic outlier head on the network's pooled features
  (:mod:`voxforge.nn.classify.outliers`); unknown when it is above the threshold.

Both live in the model's JSON sidecar under ``calibration`` so every caller (``voxforge
classify``, brickify's summary, the service) applies the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from voxforge.core.errors import ConfigError
from voxforge.nn.classify.outliers import OutlierHead

SCORES = ("energy", "max_probability", "outlier")


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of (N, C) ``logits / temperature`` (float64, numerically stable)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / temperature)``."""
    p = softmax(logits, temperature)[np.arange(len(labels)), np.asarray(labels)]
    return float(-np.log(np.maximum(p, 1e-12)).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature in [0.05, 20] that minimises :func:`nll` (bounded search over log T)."""
    from scipy.optimize import minimize_scalar

    if len(labels) == 0:
        raise ConfigError("no shapes to fit a temperature on")
    res = minimize_scalar(
        lambda lt: nll(logits, labels, float(np.exp(lt))),
        bounds=(np.log(0.05), np.log(20.0)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(res.x))


def energy(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(N,) free energy ``-T logsumexp(logits / T)``; familiar inputs have low energy."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    m = z.max(axis=1)
    return -temperature * (m + np.log(np.exp(z - m[:, None]).sum(axis=1)))


@dataclass(frozen=True)
class OpenSetRule:
    """Temperature plus the "unknown shape" rule of one classifier.

    Attributes:
        temperature: logits are divided by this before the softmax.
        score: ``"energy"``, ``"max_probability"`` or ``"outlier"``.
        threshold: energy or outlier score above it, or top probability below it, means unknown.
        head: the outlier head (score ``"outlier"`` only).
    """

    temperature: float = 1.0
    score: str = "energy"
    threshold: float = float("inf")
    head: OutlierHead | None = None

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            raise ConfigError(f"unknown open-set score {self.score!r}; use one of {SCORES}")
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be positive, got {self.temperature}")
        if (self.score == "outlier") != (self.head is not None):
            raise ConfigError("the 'outlier' score needs an outlier head, and only it takes one")

    @property
    def needs_features(self) -> bool:
        """The score reads the network's pooled features, not only its logits."""
        return self.head is not None

    @property
    def needs_descriptors(self) -> bool:
        """The outlier head also reads the input's shape descriptors."""
        return self.head is not None and self.head.descriptors

    def scores(self, logits: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        """(N,) the rule's score (energy, calibrated top probability, or outlier score)."""
        if self.head is not None:
            if features is None:
                raise ConfigError("the 'outlier' open-set score needs the network's features")
            return self.head.score(features)
        if self.score == "energy":
            return energy(logits, self.temperature)
        return softmax(logits, self.temperature).max(axis=1)

    def is_unknown(self, logits: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        """(N,) bool: the inputs the rule answers "unknown shape"."""
        s = self.scores(logits, features)
        return s < self.threshold if self.score == "max_probability" else s > self.threshold

    def to_dict(self) -> dict[str, Any]:
        """Full-precision values: a rounded threshold could move the boundary shape across it."""
        out: dict[str, Any] = {"temperature": self.temperature, "score": self.score,
                               "threshold": self.threshold}  # fmt: skip
        if self.head is not None:
            out["head"] = self.head.to_dict()
        return out

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> OpenSetRule | None:
        """The rule in a model's JSON sidecar (``calibration``), or None when it has none."""
        cal = info.get("calibration")
        if not cal:
            return None
        head = OutlierHead.from_dict(cal["head"]) if cal.get("head") else None
        return cls(float(cal["temperature"]), str(cal["score"]), float(cal["threshold"]), head)


def fit_open_set(
    logits: np.ndarray,
    labels: np.ndarray,
    *,
    score: str = "energy",
    max_unknown_rate: float = 0.02,
    head: OutlierHead | None = None,
    features: np.ndarray | None = None,
    parts: np.ndarray | None = None,
) -> OpenSetRule:
    """Fit the temperature, then the loosest-safe threshold on the same held-out shapes.

    The threshold is the score of the ``floor(max_unknown_rate * N)``-th least familiar shape,
    so strictly fewer than that many validation shapes fall on the unknown side. The
    ``outlier`` score takes the fitted ``head`` and the held-out shapes' ``features``. With
    ``parts`` ((N,) ints naming where each shape comes from, e.g. the binvox grids and the same
    objects voxelized from meshes), the temperature is fitted on all of them and the threshold
    is the loosest of the parts' own, so that each part keeps under ``max_unknown_rate``.
    """
    if not 0.0 <= max_unknown_rate < 1.0:
        raise ConfigError(f"max_unknown_rate must be in [0, 1), got {max_unknown_rate}")
    t = fit_temperature(logits, labels)
    rule = OpenSetRule(t, score, head=head if score == "outlier" else None)
    s = rule.scores(logits, features)
    part = np.zeros(len(s), np.int64) if parts is None else np.asarray(parts)
    thresholds = []
    for value in np.unique(part):
        own = s[part == value]
        k = int(np.floor(max_unknown_rate * len(own)))
        if score == "max_probability":
            thresholds.append(float(np.sort(own)[k]))  # unknown: strictly below the (k+1)-th lowest
        else:
            thresholds.append(float(np.sort(own)[::-1][k]))  # unknown: above the (k+1)-th highest
    thr = min(thresholds) if score == "max_probability" else max(thresholds)
    return OpenSetRule(t, score, thr, rule.head)
