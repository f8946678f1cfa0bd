"""Two baselines every reconstruction result is reported against, on the same views.

* **Class mean**: the mean training target of the object's class (targets are viewer-centred in
  yaw, so this is the class's average shape as seen from the camera side), thresholded at the
  value that maximises the mean IoU over training views. It is given the true class, an *oracle*
  advantage the models do not have: it shows how much of the IoU a class prior alone buys.
* **Nearest training view** (retrieval): the training view whose silhouette (for images; the
  rendered coverage mask, again an oracle-quality segmentation) or blurred ink map (for sketches)
  is nearest in cosine distance at 32×32; its target is the prediction. With several views, each
  view retrieves a target, the targets are rotated into the first view's yaw frame and averaged.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from voxforge.core.errors import GeometryError
from voxforge.nn.metrics import iou
from voxforge.nn.reconstruct.renderset import RenderSet, view_targets

FEATURE_SIZE = 32
"""Side of the retrieval features (pixels after area downsampling)."""


@dataclass
class ClassMeanBaseline:
    """Per-class mean occupancy in the view frame.

    Attributes:
        means: (C, 32, 32, 32) float32 mean training target per class.
        threshold: occupancy threshold chosen on training IoU.
        classes: class names (index = label).
    """

    means: np.ndarray
    threshold: float
    classes: list[str]

    def predict(self, labels: np.ndarray) -> np.ndarray:
        """(B,) int labels -> (B, 32, 32, 32) bool predictions."""
        return self.means[np.asarray(labels, dtype=np.int64)] >= self.threshold


def fit_class_mean(
    train: RenderSet, *, batch: int = 512, tune_views: int = 2000, seed: int = 0
) -> ClassMeanBaseline:
    """Average the training targets per class; pick the threshold (0.05 steps) that maximises the
    mean IoU on ``tune_views`` random training views."""
    n_classes = len(train.classes)
    sums = np.zeros((n_classes, *train.grids.shape[1:]), dtype=np.float64)
    counts = np.bincount(train.labels, minlength=n_classes).astype(np.float64)
    for start in range(0, len(train), batch):
        idx = np.arange(start, min(start + batch, len(train)))
        targets = train.targets(idx)
        for c in np.unique(train.labels[idx]):
            sums[c] += targets[train.labels[idx] == c].sum(axis=0)
    means = (sums / np.maximum(counts, 1)[:, None, None, None]).astype(np.float32)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(train), size=min(tune_views, len(train)), replace=False))
    targets = train.targets(pick)
    probs = means[train.labels[pick]]
    grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
    scores = [float(iou(probs, targets, t).mean()) for t in grid]
    return ClassMeanBaseline(means, float(grid[int(np.argmax(scores))]), list(train.classes))


def silhouette_features(masks: np.ndarray) -> np.ndarray:
    """(B, S, S) bool masks -> (B, 32*32) float32 unit vectors (area-downsampled coverage)."""
    m = np.asarray(masks, dtype=np.float32)
    return _normalise(_downsample(m))


def sketch_features(sketches: np.ndarray) -> np.ndarray:
    """(B, S, S) or (B, S, S, 3) uint8 dark-on-white drawings -> (B, 32*32) float32 unit vectors
    of the blurred ink (blurred so strokes a few pixels apart still match)."""
    s = np.asarray(sketches)
    if s.ndim == 4:
        s = s.mean(axis=3)
    ink = 1.0 - s.astype(np.float32) / 255.0
    sigma = s.shape[1] / 64.0
    ink = np.stack([cv2.GaussianBlur(x, (0, 0), sigma) for x in ink])
    return _normalise(_downsample(ink))


def _downsample(images: np.ndarray) -> np.ndarray:
    if images.ndim != 3:
        raise GeometryError(f"features need (B, S, S) images, got shape {images.shape}")
    small = [cv2.resize(x, (FEATURE_SIZE, FEATURE_SIZE), interpolation=cv2.INTER_AREA) for x in images]
    return np.stack(small).reshape(len(images), -1) if small else np.zeros((0, FEATURE_SIZE**2))


def _normalise(f: np.ndarray) -> np.ndarray:
    f = f - f.mean(axis=1, keepdims=True)
    return (f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-8)).astype(np.float32)


@dataclass
class NearestBaseline:
    """Retrieval over training views.

    Attributes:
        features: (N, D) float32 unit features of the training views.
        grids: (M, 32, 32, 32) bool training objects; object_row (N,) and azimuth (N,) of views.
        sketch: whether features are sketch ink maps (else silhouettes).
    """

    features: np.ndarray
    grids: np.ndarray
    object_row: np.ndarray
    azimuth: np.ndarray
    sketch: bool

    def nearest(self, queries: np.ndarray) -> np.ndarray:
        """(B, D) query features -> (B,) int index of the most similar training view."""
        return np.argmax(queries @ self.features.T, axis=1)

    def predict(self, inputs: np.ndarray, azimuths: np.ndarray | None = None) -> np.ndarray:
        """Views of one object -> (32, 32, 32) float32 occupancy in the first view's yaw frame.

        Args:
            inputs: (K, S, S) masks (silhouette mode) or (K, S, S[, 3]) uint8 sketches.
            azimuths: (K,) degrees of the views (needed when K > 1).
        """
        feats = sketch_features(inputs) if self.sketch else silhouette_features(inputs)
        hit = self.nearest(feats)
        angle = self.azimuth[hit]
        if len(hit) > 1:
            if azimuths is None:
                raise GeometryError("several views need their azimuths to be fused")
            az = np.asarray(azimuths, dtype=np.float64)
            # view k's retrieved target brought into view 0's frame, in one resampling of the grid
            angle = angle - (az - az[0])
        targets = view_targets(self.grids[self.object_row[hit]], angle)
        return targets.mean(axis=0, dtype=np.float32)


def fit_nearest(train: RenderSet, *, sketch: bool = False) -> NearestBaseline:
    """The retrieval bank of a training render set (silhouettes, or sketches)."""
    feats = sketch_features(train.sketches) if sketch else silhouette_features(train.masks)
    return NearestBaseline(
        feats, train.grids, train.object_row, train.azimuth.astype(np.float64), sketch
    )


@dataclass
class Baselines:
    """Both baselines, fitted on one training render set."""

    class_mean: ClassMeanBaseline
    nearest: NearestBaseline


def fit_baselines(train: RenderSet, *, sketch: bool = False) -> Baselines:
    """Fit the class-mean and nearest-view baselines on ``train`` (the render set's train split)."""
    return Baselines(fit_class_mean(train), fit_nearest(train, sketch=sketch))
