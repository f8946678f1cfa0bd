"""voxforge.nn.classify.distill: cross-fitted folds, out-of-fold teacher, KD loss, teacher files,
and a tiny distilled fine-tuning run."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from voxforge.core.errors import ConfigError
from voxforge.nn.classify.distill import (
    cross_fit_folds,
    kd_loss,
    load_teacher,
    log_softmax_np,
    out_of_fold_logits,
    save_teacher,
)
from voxforge.nn.classify.train import ClassifierTrainConfig, prepare_data, train_classifier


def test_cross_fit_folds_cover_every_shape_once_and_keep_small_groups_whole() -> None:
    labels = np.array([0] * 20 + [1] * 10)
    groups = np.concatenate([np.zeros(12, int), np.arange(1, 9), np.repeat(np.arange(9, 14), 2)])
    folds = cross_fit_folds(labels, groups, k=4, seed=0)
    every = np.concatenate(folds)
    assert sorted(every.tolist()) == list(range(30))  # a partition
    owner = np.empty(30, int)
    for j, f in enumerate(folds):
        owner[f] = j
    for g in range(9, 14):  # groups of 2 (a fifth of class 1, under a fold's share) stay whole
        assert len(set(owner[groups == g])) == 1
    big = owner[groups == 0]  # 12 of 20 shapes: dealt one by one over all folds
    assert len(set(big)) == 4
    per_fold_class0 = [int((labels[f] == 0).sum()) for f in folds]
    assert max(per_fold_class0) - min(per_fold_class0) <= 1


def test_out_of_fold_logits_never_use_the_shape_itself() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    x = rng.normal(size=(40, 6)).astype(np.float32) + 3.0 * y[:, None]
    folds = [np.arange(0, 40, 2), np.arange(1, 40, 2)]
    oof = out_of_fold_logits(x, y, folds, num_classes=2, epochs=20)
    assert oof.shape == (40, 2) and np.isfinite(oof).all()
    assert (oof.argmax(1) == y).mean() > 0.9  # separable: the held-out folds are learnt
    # a mislabelled shape keeps its true class out of fold (a head that saw it could memorise it)
    y_bad = y.copy()
    y_bad[0] = 1
    assert out_of_fold_logits(x, y_bad, folds, num_classes=2, epochs=20)[0].argmax() == 0
    part = out_of_fold_logits(x, y, [folds[0][:5], folds[1][:5]], num_classes=2, epochs=2)
    assert np.isnan(part[folds[0][5:]]).all()  # shapes in no fold have no row


def test_kd_loss_is_ce_without_weight_and_kl_with_it() -> None:
    torch.manual_seed(0)
    s, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 0, 1])
    t = torch.log_softmax(torch.randn(5, 3), 1)
    ce = F.cross_entropy(s, y, label_smoothing=0.1)
    assert torch.allclose(kd_loss(s, y, t, weight=0.0, temperature=2.0, label_smoothing=0.1), ce)
    same = kd_loss(s, y, torch.log_softmax(s, 1), weight=1.0, temperature=3.0)
    assert float(same) == pytest.approx(0.0, abs=1e-6)  # student equals teacher: no KL
    full = kd_loss(s, y, t, weight=1.0, temperature=1.0)
    ref = (t.exp() * (t - torch.log_softmax(s, 1))).sum(1).mean()
    assert torch.allclose(full, ref, atol=1e-6)
    half = kd_loss(s, y, t, weight=0.5, temperature=1.0)
    assert torch.allclose(half, 0.5 * F.cross_entropy(s, y) + 0.5 * ref, atol=1e-6)


def test_log_softmax_np_rows_are_log_probabilities() -> None:
    lp = log_softmax_np(np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, 0.0]]), 2.0)
    assert np.allclose(np.exp(lp).sum(1), 1.0) and np.isfinite(lp).all()


def test_teacher_file_round_trip_and_errors(tmp_path: Path) -> None:
    labels = np.array([0, 1, 1, 0])
    lp = np.log(np.full((4, 2), 0.5, np.float32))
    lp[3] = np.nan
    path = save_teacher(tmp_path / "t.npz", lp, labels, {"teacher": "test"})
    assert np.allclose(load_teacher(path, labels, np.array([0, 2])), np.log(0.5))
    with pytest.raises(ConfigError, match="no teacher row"):
        load_teacher(path, labels, np.array([1, 3]))
    with pytest.raises(ConfigError, match="another data set"):
        load_teacher(path, np.array([1, 1, 1, 0]), np.array([0]))
    with pytest.raises(ConfigError, match="no such teacher"):
        load_teacher(tmp_path / "missing.npz", labels, np.array([0]))


def _config(tmp_path: Path, npz: Path, **over: object) -> ClassifierTrainConfig:
    data = {"name": "kd", "model": "voxresnet", "model_args": {"widths": [4, 8, 8]},
            "data": {"path": str(npz), "val_fraction": 0.25}, "epochs": 2, "batch_size": 6,
            "warmup_epochs": 0.5, "vote_views": 2, "vote_every": 1,
            "output_dir": str(tmp_path / "runs"), **over}  # fmt: skip
    return ClassifierTrainConfig.model_validate(data)


def test_distilled_fine_tuning_starts_from_shipped_weights(
    tmp_path: Path, tiny_npz: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOXFORGE_MODELS", str(tiny_model_dir))
    cfg = _config(tmp_path, tiny_npz)
    prep = prepare_data(cfg)
    assert prep.train_index is not None
    with np.load(tiny_npz) as z:
        labels = z["labels"]
    lp = np.full((len(labels), 3), np.nan, np.float32)
    lp[prep.train_index] = log_softmax_np(np.eye(3)[labels[prep.train_index]] * 4.0)
    teacher = save_teacher(tmp_path / "teacher.npz", lp, labels, {})
    kd = {"teacher": str(teacher), "weight": 0.5, "temperature": 2.0}
    res = train_classifier(
        _config(tmp_path, tiny_npz, init_from="tiny-voxel", distill=kd, lr=1e-12, seed=1)
    )  # seed 1: a fresh init would differ
    rows = list(csv.DictReader((res.run_dir / "metrics.csv").open()))
    assert len(rows) == 2 and all(np.isfinite(float(r["train_loss"])) for r in rows)
    from voxforge.nn.classify.inference import load_classifier

    start = load_classifier("tiny-voxel").model.state_dict()
    ckpt = torch.load(res.run_dir / "last.pt", map_location="cpu", weights_only=False)
    for k, v in start.items():  # lr ~0: the weights stay the shipped ones (batch-norm stats move)
        if "running" not in k and "num_batches" not in k:
            assert torch.allclose(ckpt["model"][k], v, atol=1e-8), k
    with pytest.raises(ConfigError, match="weights do not fit"):
        train_classifier(_config(tmp_path / "b", tiny_npz, init_from="tiny-voxel",
                                 model_args={"widths": [4, 8, 16]}))  # fmt: skip
    missing = {**kd, "teacher": str(tmp_path / "none.npz")}
    with pytest.raises(ConfigError, match="no such teacher"):
        train_classifier(_config(tmp_path / "c", tiny_npz, distill=missing))
