"""Grouped validation: near-duplicate shapes never sit on both sides of a train/validation split.

ModelNet's training objects of one class are often near-copies of each other (the same chair
model re-exported, a sofa with one cushion moved). A random split puts one copy in training and
the other in validation, so the validation accuracy measures recall of seen objects rather than
performance on objects the model never saw. Here two shapes of the same class are *linked* when
their voxel IoU, maximised over the 8 alignments of 4 quarter turns about z and a mirror in x,
reaches ``threshold``; a *group* is a connected component of links (single linkage), and splits
move whole groups.

All functions are pure numpy/torch over (N, s, s, s) occupancy grids; the pairwise IoU runs as
matrix products per class, so the 3,991-shape shared set groups in under a minute on one core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voxforge.core.errors import ConfigError
from voxforge.nn.classify.data import rotate_z

GROUP_IOU = 0.7
"""Default link threshold: best-aligned voxel IoU at or above this joins two shapes' groups."""


def aligned_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) float32 voxel IoU of every pair, the best of 8 alignments.

    The alignments are the 4 quarter turns about z, with and without a mirror in x, applied to
    ``a``; quarter turns are exact permutations of the grid, so no resampling blurs the shapes.
    Two empty grids have IoU 0.
    """
    import torch

    a = np.asarray(a) > 0
    b = np.asarray(b) > 0
    base = torch.from_numpy(b.reshape(len(b), -1).astype(np.float32))
    cnt_b = base.sum(1)
    best = torch.zeros(len(a), len(b))
    for mirrored in (False, True):
        src = a[:, ::-1] if mirrored else a
        for k in range(4):
            q = np.ascontiguousarray(rotate_z(src, 90.0 * k)).reshape(len(a), -1)
            qt = torch.from_numpy(q.astype(np.float32))
            inter = qt @ base.T
            union = qt.sum(1)[:, None] + cnt_b[None, :] - inter
            best = torch.maximum(best, inter / union.clamp(min=1.0))
    return best.numpy()


def group_shapes(voxels: np.ndarray, labels: np.ndarray, threshold: float = GROUP_IOU) -> np.ndarray:
    """(N,) int64 group id per shape: connected components of same-class links IoU >= threshold.

    Shapes of different classes are never linked (a cross-class look-alike is a hard example,
    not a leak of the answer). Group ids are numbered from 0 in order of first appearance.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"group threshold must be in (0, 1], got {threshold}")
    labels = np.asarray(labels)
    groups = np.full(len(labels), -1, np.int64)
    next_id = 0
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        iou = aligned_iou(voxels[idx], voxels[idx])
        iou = np.maximum(iou, iou.T)
        _, comp = connected_components(csr_matrix(iou >= threshold), directed=False)
        groups[idx] = comp + next_id
        next_id += int(comp.max()) + 1
    _, first = np.unique(groups, return_index=True)
    remap = np.empty(groups.max() + 1, np.int64)
    remap[groups[np.sort(first)]] = np.arange(len(first))
    return remap[groups]


def grouped_split(
    labels: np.ndarray, groups: np.ndarray, val_fraction: float = 0.15, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Class-stratified train/validation indices that never split a group (fixed ``seed``).

    Per class, groups are visited in a seeded random order and a group joins validation while it
    fits in the remaining quota (``round(val_fraction * class size)`` shapes), so each class gets
    close to its share without cutting a group. Groups too big for the quota stay in training,
    which makes the validation lean towards objects with few look-alikes: the unseen-object case.
    Returns two sorted (k,) int64 arrays.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")
    labels, groups = np.asarray(labels), np.asarray(groups)
    rng = np.random.default_rng(seed)
    val: list[np.ndarray] = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        quota = round(len(members) * val_fraction)
        gids = np.unique(groups[members])
        for g in gids[rng.permutation(len(gids))]:
            if quota <= 0:
                break
            take = members[groups[members] == g]
            if len(take) <= quota:
                val.append(take)
                quota -= len(take)
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    train_idx = np.setdiff1d(np.arange(len(labels)), val_idx)
    return train_idx.astype(np.int64), val_idx.astype(np.int64)


def grouped_folds(
    labels: np.ndarray,
    groups: np.ndarray,
    k: int = 5,
    seed: int = 0,
    *,
    max_share: float | None = None,
) -> list[np.ndarray]:
    """``k`` disjoint validation index sets of whole groups, per class.

    Per class, groups are shuffled (seeded) and dealt largest first to the fold with the fewest
    shapes of that class so far, so folds stay balanced in class counts. With ``max_share``, a
    group holding more than that share of its class is never held out (it stays in every fold's
    training, as :func:`grouped_split` keeps groups larger than its quota): one giant look-alike
    group (most of ModelNet's dressers) would otherwise leave a fold with next to no training
    shapes of its class. Without it the folds cover every shape.
    """
    if k < 2:
        raise ConfigError(f"k must be at least 2, got {k}")
    if max_share is not None and not 0.0 < max_share <= 1.0:
        raise ConfigError(f"max_share must be in (0, 1], got {max_share}")
    labels, groups = np.asarray(labels), np.asarray(groups)
    rng = np.random.default_rng(seed)
    folds: list[list[np.ndarray]] = [[] for _ in range(k)]
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        gids = np.unique(groups[members])
        gids = gids[rng.permutation(len(gids))]
        sizes = np.array([np.sum(groups[members] == g) for g in gids])
        load = np.zeros(k, np.int64)
        for j in np.argsort(-sizes, kind="stable"):
            if max_share is not None and sizes[j] > max_share * len(members):
                continue
            f = int(np.argmin(load))
            folds[f].append(members[groups[members] == gids[j]])
            load[f] += sizes[j]
    return [np.sort(np.concatenate(f)) if f else np.zeros(0, np.int64) for f in folds]


def unseen_subset(val_idx: np.ndarray, train_idx: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The shapes of ``val_idx`` whose group has no member in ``train_idx`` (sorted).

    Applied to the random split a model was trained on, this picks the validation shapes that
    model never saw a near-duplicate of: its unseen-object estimate without retraining.
    """
    seen = np.isin(groups[val_idx], groups[train_idx])
    return np.sort(np.asarray(val_idx)[~seen])


@dataclass(frozen=True)
class Estimate:
    """An accuracy with a group-bootstrap 95% interval."""

    accuracy: float
    low: float
    high: float
    samples: int

    def to_dict(self) -> dict[str, float | int]:
        return {"accuracy": round(self.accuracy, 4), "ci95": [round(self.low, 4),
                round(self.high, 4)], "samples": self.samples}  # fmt: skip


def bootstrap_accuracy(
    correct: np.ndarray, groups: np.ndarray, *, rounds: int = 1000, seed: int = 0
) -> Estimate:
    """Accuracy of ``correct`` (bool per shape) with a 95% interval resampling whole groups."""
    correct = np.asarray(correct, dtype=np.float64)
    if len(correct) == 0:
        raise ConfigError("no shapes to estimate an accuracy from")
    _, inv = np.unique(np.asarray(groups), return_inverse=True)
    hits = np.bincount(inv, weights=correct)
    sizes = np.bincount(inv).astype(np.float64)
    rng = np.random.default_rng(seed)
    pick = rng.integers(len(sizes), size=(rounds, len(sizes)))
    acc = hits[pick].sum(1) / sizes[pick].sum(1)
    lo, hi = np.quantile(acc, [0.025, 0.975])
    return Estimate(float(correct.mean()), float(lo), float(hi), len(correct))
