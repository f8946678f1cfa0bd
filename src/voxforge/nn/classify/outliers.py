"""An "unknown shape" detector trained by outlier exposure on the classifier's features.

A classifier trained on ten furniture classes maps every input to furniture-like features, so its
own confidence (max probability, energy) and distances in its feature space (Mahalanobis, nearest
neighbour) barely separate a teapot from an unusual dresser. Outlier exposure (Hendrycks et al.
2019) shows the detector examples of what is *not* a class: here a logistic regression on the
pooled penultimate features of the frozen network, with the training shapes as inliers and as
outliers

* synthetic blobs: unions of 1-4 randomly posed rounded superquadrics (organic, curved shapes
  without the flat panels and thin legs of furniture), made deterministically from a seed;
* optionally real non-furniture meshes (a folder of mesh files) voxelized like any input.

Inliers and outliers weigh the same in the loss, and the two outlier sources weigh the same
within the outliers. The fitted head is a few hundred numbers (feature mean and scale, weights,
bias) stored in the model's JSON next to the threshold (:mod:`voxforge.nn.classify.calibration`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxforge.core.errors import ConfigError, VoxforgeError

OUTLIER_C = 0.1
"""Inverse L2 strength of the logistic regression (sklearn's ``C`` convention)."""


def synthetic_outliers(n: int, seed: int = 0, resolution: int = 48) -> np.ndarray:
    """(n, 32, 32, 32) uint8 classifier inputs of random rounded blobs (deterministic in ``seed``).

    Each blob is the union of 1-4 superquadrics with random centre, semi-axes (0.1-0.6 of the
    half box), orientation and exponent (0.8-2.5: from slightly pointed to rounded, never a sharp
    box), sampled on a ``resolution``³ grid and put on the classifier's lattice.
    """
    from voxforge.nn.classify.inference import voxelgrid_to_input

    rng = np.random.default_rng(seed)
    axis = np.linspace(-1.0, 1.0, resolution)
    cells = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1)
    out: list[np.ndarray] = []
    while len(out) < n:
        occ = np.zeros((resolution,) * 3, bool)
        for _ in range(int(rng.integers(1, 5))):
            centre = rng.uniform(-0.5, 0.5, 3)
            semi = rng.uniform(0.1, 0.6, 3)
            power = 2.0 / rng.uniform(0.8, 2.5)
            rot = np.linalg.qr(rng.normal(size=(3, 3)))[0]
            occ |= (np.abs((cells - centre) @ rot / semi) ** power).sum(-1) <= 1.0
        if occ.sum() >= 50:
            out.append(voxelgrid_to_input(occ, 1.0, name="blob"))
    return np.stack(out) if out else np.zeros((0, 32, 32, 32), np.uint8)


def mesh_folder_grids(folder: str | Path) -> np.ndarray:
    """(k, 32, 32, 32) uint8 inputs of every mesh file under ``folder`` (one per file name).

    Raises:
        ConfigError: no such folder, or no mesh in it that loads.
    """
    from voxforge.io import load_any
    from voxforge.nn.classify.inference import object_to_grid

    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"{root}: no such folder of outlier meshes")
    seen: dict[str, np.ndarray] = {}
    exts = {".stl", ".obj", ".ply", ".off", ".glb", ".gltf"}
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() in exts and p.name not in seen:
            try:
                seen[p.name] = object_to_grid(load_any(p))
            except VoxforgeError:  # a mesh that does not load is skipped
                continue
    if not seen:
        raise ConfigError(f"{root}: no mesh file that loads")
    return np.stack(list(seen.values()))


@dataclass(frozen=True)
class OutlierHead:
    """Logistic "not one of the classes" score on standardised features.

    ``score(f) = ((f - mean) / scale) @ weight + bias``; higher means less like the classes.
    """

    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray
    bias: float

    def score(self, features: np.ndarray) -> np.ndarray:
        """(N,) float64 scores of (N, D) features."""
        f = np.asarray(features, dtype=np.float64)
        if f.ndim != 2 or f.shape[1] != len(self.weight):
            raise ConfigError(f"outlier head expects (N, {len(self.weight)}) features, got {f.shape}")
        return ((f - self.mean) / self.scale) @ self.weight + self.bias

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "weight": self.weight.tolist(), "bias": float(self.bias)}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OutlierHead:
        return cls(np.asarray(d["mean"], np.float64), np.asarray(d["scale"], np.float64),
                   np.asarray(d["weight"], np.float64), float(d["bias"]))  # fmt: skip


def fit_outlier_head(
    inliers: np.ndarray, outliers: list[np.ndarray], *, c: float = OUTLIER_C
) -> OutlierHead:
    """L2-regularised logistic regression of inliers (0) against the outlier sets (1).

    Minimises ``0.5 |w|² + c * sum_i s_i * log_loss_i`` (L-BFGS) with sample weights ``s`` that
    give inliers and outliers equal total weight and every outlier set an equal share of it.
    Features are standardised with the inliers' mean and standard deviation.
    """
    from scipy.optimize import minimize

    sets = [np.asarray(o, np.float64) for o in outliers if len(o)]
    inl = np.asarray(inliers, np.float64)
    if len(inl) == 0 or not sets:
        raise ConfigError("the outlier head needs inlier features and at least one outlier set")
    mean, scale = inl.mean(0), inl.std(0) + 1e-6
    x = (np.concatenate([inl, *sets]) - mean) / scale
    y = np.concatenate([np.zeros(len(inl)), np.ones(sum(len(s) for s in sets))])
    w = np.concatenate([np.full(len(inl), 1.0 / len(inl))]
                       + [np.full(len(s), 1.0 / (len(sets) * len(s))) for s in sets])  # fmt: skip
    w *= len(x) / 2.0

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ theta[:-1] + theta[-1]
        nll = np.logaddexp(0.0, z) - y * z
        g = w * (1.0 / (1.0 + np.exp(-z)) - y)
        grad = np.concatenate([c * (x.T @ g) + theta[:-1], [c * g.sum()]])
        reg = 0.5 * float(theta[:-1] @ theta[:-1])
        return reg + c * float(w @ nll), grad

    res = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B",
                   options={"maxiter": 3000})  # fmt: skip
    return OutlierHead(mean, scale, res.x[:-1].copy(), float(res.x[-1]))
