"""Baselines: class-mean threshold choice and nearest-view retrieval with fusion, on hand-made sets."""

from __future__ import annotations

import numpy as np
import pytest

from voxforge.core.errors import GeometryError
from voxforge.nn.reconstruct.baselines import (
    fit_baselines,
    fit_class_mean,
    fit_nearest,
    silhouette_features,
)
from voxforge.nn.reconstruct.renderset import RenderSet, RenderSetConfig, view_targets


def box(lo: int, hi: int, top: int = 20) -> np.ndarray:
    g = np.zeros((32, 32, 32), bool)
    g[lo:hi, lo + 2 : hi, 4:top] = True  # not square in plan, so rotations show
    return g


def make_set(
    grids: list[np.ndarray], labels: list[int], azimuth: list[float], rows: list[int]
) -> RenderSet:
    """Views ``rows`` -> object; each view's mask is a distinct random blob (for retrieval)."""
    n = len(rows)
    rng = np.random.default_rng(0)
    masks = rng.random((n, 64, 64)) < 0.5
    return RenderSet(
        images=np.zeros((n, 64, 64, 3), np.uint8),
        sketches=np.where(masks, 0, 255).astype(np.uint8),
        masks=masks,
        azimuth=np.asarray(azimuth, np.float32),
        elevation=np.zeros(n, np.float32),
        cameras=np.zeros((n, 3, 4), np.float32),
        labels=np.asarray([labels[r] for r in rows], np.int64),
        object_index=np.asarray(rows, np.int64),
        objects=np.arange(len(grids)),
        grids=np.stack(grids),
        object_row=np.asarray(rows, np.int64),
        classes=["a", "b"],
        config=RenderSetConfig(),
    )


def test_class_mean_threshold_maximises_training_iou() -> None:
    small, big = box(10, 16), box(8, 20)  # small inside big
    # class 1 holds small twice and big once: mean is 1 on small, 1/3 on the rest of big
    rs = make_set([big, small, small, big], [0, 1, 1, 1], [0.0] * 4, [0, 1, 2, 3])
    cm = fit_class_mean(rs)
    assert cm.threshold == 0.35  # the first threshold above 1/3 keeps only the small box
    assert np.array_equal(cm.means[0], big.astype(np.float32))
    assert np.allclose(cm.means[1][big & ~small], 1 / 3)
    assert np.array_equal(cm.predict(np.array([1]))[0], small)


def test_nearest_retrieves_the_training_view_and_fuses_in_the_first_frame() -> None:
    obj = box(6, 22)
    rs = make_set([obj, box(12, 16)], [0, 1], [0.0, 90.0, 30.0], [0, 0, 1])
    nn = fit_nearest(rs)
    assert nn.nearest(silhouette_features(rs.masks)).tolist() == [0, 1, 2]
    assert np.array_equal(nn.predict(rs.masks[1:2]) > 0.5, view_targets(obj[None], np.array([90.0]))[0])
    # views 0 (az 0) and 1 (az 90) of one object, fused into view 0's frame, agree exactly
    fused = nn.predict(rs.masks[0:2], rs.azimuth[0:2])
    assert np.array_equal(fused, obj.astype(np.float32))
    with pytest.raises(GeometryError, match="azimuths"):
        nn.predict(rs.masks[0:2])


def test_sketch_bank_and_both_baselines() -> None:
    rs = make_set([box(6, 22), box(12, 16)], [0, 1], [0.0, 45.0], [0, 1])
    b = fit_baselines(rs, sketch=True)
    assert b.nearest.sketch
    assert b.nearest.nearest(b.nearest.features).tolist() == [0, 1]
    assert b.class_mean.means.shape == (2, 32, 32, 32)
