"""Grouped validation: near-duplicates stay on one side; folds, unseen subsets, bootstrap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voxforge.core.errors import ConfigError
from voxforge.nn.classify.grouping import (
    aligned_iou,
    bootstrap_accuracy,
    group_shapes,
    grouped_folds,
    grouped_split,
    unseen_subset,
)


def _box(lo: tuple[int, int, int], hi: tuple[int, int, int]) -> np.ndarray:
    g = np.zeros((16, 16, 16), np.uint8)
    g[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = 1
    return g


def test_aligned_iou_sees_through_quarter_turns_and_mirrors() -> None:
    a = _box((2, 5, 1), (12, 8, 14))
    turned = np.rot90(a, 1, axes=(0, 1))
    mirrored = a[::-1]
    other = _box((6, 6, 6), (9, 9, 9))
    iou = aligned_iou(np.stack([a]), np.stack([turned, mirrored, other]))
    assert iou[0, 0] == pytest.approx(1.0) and iou[0, 1] == pytest.approx(1.0)
    assert iou[0, 2] < 0.2


def test_near_duplicates_never_span_train_and_validation() -> None:
    rng = np.random.default_rng(3)
    grids, labels = [], []
    for c in range(2):
        for _ in range(12):  # 12 distinct prototypes per class, each with 0-2 near-copies
            lo = rng.integers(0, 6, size=3)
            hi = lo + rng.integers(4, 10, size=3)
            proto = _box(tuple(lo), tuple(hi))
            for k in range(int(rng.integers(1, 4))):
                g = np.roll(proto, k, axis=2)  # shifted by k cells: IoU stays high
                grids.append(np.rot90(g, int(rng.integers(4)), axes=(0, 1)))
                labels.append(c)
    vox, lab = np.stack(grids), np.asarray(labels)
    groups = group_shapes(vox, lab, 0.7)
    train, val = grouped_split(lab, groups, 0.25, seed=0)
    assert len(val) > 0 and len(np.intersect1d(train, val)) == 0
    assert len(train) + len(val) == len(lab)
    cross = aligned_iou(vox[val], vox[train])
    same = lab[val][:, None] == lab[train][None, :]
    assert (cross[same] < 0.7).all()  # no near-duplicate of a validation shape in training
    assert set(lab[val]) == {0, 1}  # stratified: every class is validated
    folds = grouped_folds(lab, groups, k=3, seed=0)
    assert np.array_equal(np.sort(np.concatenate(folds)), np.arange(len(lab)))
    for f in folds:
        assert not np.isin(groups[f], groups[np.setdiff1d(np.arange(len(lab)), f)]).any()


def test_grouped_folds_keep_groups_above_max_share_in_training() -> None:
    labels = np.array([0] * 10 + [1] * 4)
    groups = np.array([0] * 7 + [1, 2, 3] + [4, 5, 6, 7])  # group 0: 7 of class 0's 10 shapes
    every = grouped_folds(labels, groups, k=2, seed=0)
    assert np.array_equal(np.sort(np.concatenate(every)), np.arange(14))
    small = grouped_folds(labels, groups, k=2, seed=0, max_share=0.5)
    held = np.sort(np.concatenate(small))
    assert np.array_equal(held, np.arange(7, 14))  # the 7-shape group is never held out
    assert sorted(len(f) for f in small) == [3, 4]
    with pytest.raises(ConfigError, match="max_share"):
        grouped_folds(labels, groups, max_share=0.0)


def test_group_shapes_never_links_across_classes() -> None:
    g = _box((2, 2, 2), (10, 10, 10))
    groups = group_shapes(np.stack([g, g, g]), np.array([0, 0, 1]))
    assert groups[0] == groups[1] != groups[2]
    with pytest.raises(ConfigError):
        group_shapes(np.stack([g]), np.array([0]), 0.0)


def test_unseen_subset_and_bootstrap() -> None:
    groups = np.array([0, 0, 1, 2, 2, 3])
    assert unseen_subset(np.array([1, 2, 5]), np.array([0, 3]), groups).tolist() == [2, 5]
    est = bootstrap_accuracy(np.array([1, 1, 0, 1, 1, 1], bool), groups, rounds=200)
    assert est.accuracy == pytest.approx(5 / 6) and est.low <= est.accuracy <= est.high
    assert est.samples == 6


def test_grouping_on_the_shared_set_keeps_duplicates_apart(shared_data: Path) -> None:
    from voxforge.nn.datasets import load_voxel_set

    data = load_voxel_set(shared_data / "modelnet10_vox30_train.npz")
    pick = np.flatnonzero(data.labels == data.classes.index("night_stand"))[:120]
    vox, lab = data.voxels[pick], data.labels[pick]
    groups = group_shapes(vox, lab)
    train, val = grouped_split(lab, groups, 0.15, seed=0)
    assert len(val) >= 10
    assert aligned_iou(vox[val], vox[train]).max() < 0.7
