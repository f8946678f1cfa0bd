"""Knowledge distillation of a slow teacher into a fast classifier, without leaking the answer.

The teacher is the multi-view member (:mod:`voxforge.nn.classify.multiview`: frozen ImageNet
features of shaded renders, a small trained head). Its probabilities on the shapes a student
trains on must not come from a head that trained on those shapes (or their near-duplicates):
such a head has memorised them, and its targets would only repeat the labels. So the teacher is
*cross-fitted*: the student's training shapes are dealt into ``k`` folds of whole look-alike
groups (:func:`voxforge.nn.classify.grouping.grouped_folds`), a head is fitted on the other
folds and predicts the held-out one. Groups larger than a fold's share of their class (most of
ModelNet's dressers form one) would leave a fold with next to no shapes of the class, so their
members are dealt shape by shape instead (:func:`cross_fit_folds`). The out-of-fold logits get
one temperature fitted on themselves (they are held-out predictions, so the fit is honest) and
are stored as log-probabilities in a teacher file (:func:`save_teacher`).

Training (``distill`` in :class:`voxforge.nn.classify.train.ClassifierTrainConfig`) then adds a
temperature-softened KL term to the label-smoothed cross-entropy (:func:`kd_loss`, Hinton et al.
2015). Shapes outside the training split have no teacher row (NaN), so validation and the
never-seen estimate stay untouched by the teacher.

Usage: ``python -m voxforge.nn.classify.distill --out runs/kd/teacher.npz`` (see ``--help``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from voxforge.core.errors import ConfigError


def cross_fit_folds(
    labels: np.ndarray, groups: np.ndarray, k: int = 5, seed: int = 0
) -> list[np.ndarray]:
    """``k`` disjoint folds covering every shape: whole groups where a group is at most a fold's
    share of its class, and the members of larger groups dealt one by one (seeded).

    Returns ``k`` sorted int64 index arrays into ``labels``.
    """
    from voxforge.nn.classify.grouping import grouped_folds

    labels = np.asarray(labels)
    folds = [list(f) for f in grouped_folds(labels, groups, k, seed, max_share=1.0 / k)]
    placed = np.zeros(len(labels), bool)
    for f in folds:
        placed[np.asarray(f, np.int64)] = True
    rng = np.random.default_rng(seed)
    for c in np.unique(labels):
        rest = np.flatnonzero((labels == c) & ~placed)
        rest = rest[rng.permutation(len(rest))]
        counts = [int(np.sum(labels[np.asarray(f, np.int64)] == c)) for f in folds]
        for i in rest:
            j = int(np.argmin(counts))
            folds[j].append(int(i))
            counts[j] += 1
    return [np.sort(np.asarray(f, np.int64)) for f in folds]


def out_of_fold_logits(
    features: np.ndarray,
    labels: np.ndarray,
    folds: list[np.ndarray],
    *,
    num_classes: int,
    hidden: int = 0,
    epochs: int = 30,
    seed: int = 0,
) -> np.ndarray:
    """(N, C) logits of every shape in ``folds`` from a head fitted on the other folds.

    ``features`` is (N, D) (view-averaged features); rows in no fold stay NaN.
    """
    from voxforge.nn.classify.multiview import fit_head, head_logits

    x = np.asarray(features, np.float32)
    out = np.full((len(x), num_classes), np.nan, np.float32)
    everyone = np.concatenate(folds) if folds else np.zeros(0, np.int64)
    for f in folds:
        train = np.setdiff1d(everyone, f)
        head = fit_head(x[train], labels[train], num_classes=num_classes, hidden=hidden,
                        epochs=epochs, seed=seed)  # fmt: skip
        out[f] = head_logits(head, x[f])
    return out


def log_softmax_np(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise log-softmax of ``logits / temperature`` (float32)."""
    from scipy.special import log_softmax

    return log_softmax(np.asarray(logits, np.float64) / temperature, axis=1).astype(np.float32)


def kd_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_log_probs: torch.Tensor,
    *,
    weight: float,
    temperature: float,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """``(1 - weight) * CE(labels) + weight * T² * KL(teacher_T || student_T)``.

    The teacher's log-probabilities are softened by the same temperature as the student's
    logits (``log_softmax(logp / T)``); the ``T²`` factor keeps the gradient scale of the soft
    term independent of ``T``.
    """
    ce = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    if weight <= 0.0:
        return ce
    t = temperature
    target = F.log_softmax(teacher_log_probs / t, dim=1)
    kl = F.kl_div(F.log_softmax(logits / t, dim=1), target, reduction="batchmean", log_target=True)
    return (1.0 - weight) * ce + weight * (t * t) * kl


def save_teacher(
    path: str | Path, log_probs: np.ndarray, labels: np.ndarray, meta: dict[str, Any]
) -> Path:
    """Write the (N, C) teacher log-probabilities (NaN rows: no teacher) with labels and metadata."""
    import io

    from voxforge.core.outputs import atomic_write_bytes

    buf = io.BytesIO()
    np.savez(buf, log_probs=np.asarray(log_probs, np.float32), labels=np.asarray(labels, np.int64),
             meta=np.array(json.dumps(meta)))  # fmt: skip
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def load_teacher(path: str | Path, labels: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The teacher rows of the shapes ``index`` of a data set whose labels are ``labels``.

    Raises:
        ConfigError: no such file, a file made for other data (its labels differ), or a shape of
            ``index`` without a teacher row.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such teacher file (python -m voxforge.nn.classify.distill)")
    with np.load(path) as z:
        lp, y = z["log_probs"], z["labels"]
    if len(y) != len(labels) or not np.array_equal(y, labels):
        raise ConfigError(f"{path}: the teacher was made for another data set ({len(y)} shapes)")
    rows = lp[np.asarray(index)]
    missing = int(np.isnan(rows).any(1).sum())
    if missing:
        raise ConfigError(f"{path}: {missing} training shapes have no teacher row (another split?)")
    return rows.astype(np.float32)


def build_teacher(
    data_path: str | Path,
    cache: str | Path,
    *,
    val_fraction: float = 0.15,
    split_seed: int = 0,
    size: int = 224,
    yaws: int = 4,
    hidden: int = 512,
    folds: int = 5,
    epochs: int = 30,
    seed: int = 0,
    with_model: str | None = None,
    views: int = 4,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Cross-fitted multi-view teacher log-probabilities on the training part of a random split.

    With ``with_model`` (a shipped voxel classifier trained on the same split), the teacher is
    the renormalised mean of the multi-view log-probabilities and that model's (``views``
    voting views, temperature 1). Its logits on its own training shapes are in-sample, not
    cross-fitted: they are more confident and more often right than on new shapes, so such a
    teacher leans towards the labels (self-distillation) where the model is sure.

    Returns (N, C) calibrated log-probabilities (NaN outside the training part), the labels and
    a metadata dict (split, folds, out-of-fold accuracy and temperature, seconds).
    """
    from voxforge.nn.classify.calibration import fit_temperature, nll
    from voxforge.nn.classify.grouping import group_shapes
    from voxforge.nn.classify.multiview_study import cached_features
    from voxforge.nn.datasets import load_voxel_set, stratified_split

    t0 = time.perf_counter()
    data = load_voxel_set(data_path)
    y = data.labels
    feats = cached_features(data.voxels, Path(cache), size=size, yaws=yaws)
    t_feat = time.perf_counter() - t0
    x = feats.astype(np.float32).mean(1)
    train, _ = stratified_split(y, val_fraction, split_seed)
    groups = group_shapes(data.voxels, y)
    local = cross_fit_folds(y[train], groups[train], folds, seed)
    oof_local = out_of_fold_logits(x[train], y[train], local, num_classes=len(data.classes),
                                   hidden=hidden, epochs=epochs, seed=seed)  # fmt: skip
    temp = fit_temperature(oof_local, y[train])
    lp = np.full((len(y), len(data.classes)), np.nan, np.float32)
    lp[train] = log_softmax_np(oof_local, temp)
    extra: dict[str, Any] = {}
    if with_model is not None:
        from voxforge.nn.classify.inference import load_classifier

        own = load_classifier(with_model).predict_logits(data.voxels[train], views=views)
        lp[train] = log_softmax_np(0.5 * lp[train] + 0.5 * log_softmax_np(own))
        ens = lp[train].argmax(1) == y[train]
        extra = {"with_model": with_model, "with_model_in_sample_accuracy":
                 round(float((own.argmax(1) == y[train]).mean()), 4),
                 "teacher_accuracy": round(float(ens.mean()), 4)}  # fmt: skip
    pred = oof_local.argmax(1)
    recall = {c: round(float((pred[y[train] == k] == k).mean()), 4)
              for k, c in enumerate(data.classes)}  # fmt: skip
    meta = {
        "teacher": f"mvlite {size} px, {yaws} cameras, head hidden {hidden}, {epochs} epochs",
        "split": {"val_fraction": val_fraction, "split_seed": split_seed, "train": len(train)},
        "folds": folds, "fold_sizes": [len(f) for f in local],
        "oof_accuracy": round(float((pred == y[train]).mean()), 4), "oof_recall": recall,
        "temperature": round(temp, 4), "nll_before": round(nll(oof_local, y[train]), 4),
        "nll_after": round(nll(oof_local, y[train], temp), 4),
        **extra, "feature_seconds": round(t_feat, 1), "seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip
    return lp, y, meta


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data/modelnet10_vox30_train.npz")
    p.add_argument("--cache", default="runs/multiview")
    p.add_argument("--out", default="runs/kd/teacher.npz")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--yaws", type=int, default=4)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--val-fraction", type=float, default=0.15)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--with-model", default=None, help="Average with this shipped voxel model.")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    lp, y, meta = build_teacher(a.data, a.cache, val_fraction=a.val_fraction,
                                split_seed=a.split_seed, size=a.size, yaws=a.yaws,
                                hidden=a.hidden, folds=a.folds, epochs=a.epochs,
                                with_model=a.with_model)  # fmt: skip
    save_teacher(a.out, lp, y, meta)
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
