"""voxforge.nn.classify.evaluate: the never-seen shapes scored as remeshed inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from voxforge.cli import app
from voxforge.nn.classify.evaluate import _remeshed_estimate, calibrate_classifier
from voxforge.nn.datasets import ClassifierData


class _AxisClassifier:
    """Says "along x" when a grid is longer in x than in y: right for a bar along x only while
    its yaw keeps it within 45° of the x axis."""

    classes = ("along_x", "along_y")
    input_kind = "voxels"
    rule = None

    def predict_logits(self, x: np.ndarray, *, views: int | None = None) -> np.ndarray:
        ext = [np.ptp(np.argwhere(g)[:, :2], axis=0) for g in x]
        return np.array([[1.0, 0.0] if e[0] > e[1] else [0.0, 1.0] for e in ext], np.float32)


def test_remeshed_estimate_scores_each_shape_by_its_copies_at_random_yaws() -> None:
    vox = np.zeros((2, 32, 32, 32), np.uint8)
    vox[:, 4:28, 14:18, 4:8] = 1  # two bars along x
    data = ClassifierData(vox, np.array([0, 0]), ["along_x", "along_y"])
    copies = 8
    out = _remeshed_estimate(_AxisClassifier(), data, np.array([0, 1]), np.array([0, 1]), copies, 1,
                             lambda *_: None)  # fmt: skip
    expected = []
    for i in (0, 1):  # remeshed_grids draws shape i's yaws from default_rng([0, i])
        yaw = np.random.default_rng([0, i]).uniform(0.0, 360.0, copies)
        expected.append(np.mean(np.abs(np.cos(np.deg2rad(yaw))) > np.cos(np.deg2rad(45))))
    assert out["copies"] == copies and out["samples"] == 2
    assert out["accuracy"] == round(float(np.mean(expected)), 4)
    assert 0.0 < out["accuracy"] < 1.0  # some yaws turn the bar past 45°
    assert out["recall"] == {"along_x": out["accuracy"]}
    assert out["ci95"][0] <= out["accuracy"] <= out["ci95"][1]


def test_cli_remeshed_needs_grouped(tmp_path: Path) -> None:
    data = tmp_path / "d.npz"
    data.write_bytes(b"")
    r = CliRunner().invoke(app, ["evaluate", "classifier", "--data", str(data), "--remeshed", "4"])
    assert r.exit_code != 0 and "needs --grouped" in r.output and r.output.count("\n") == 1


def _distinct_set(path: Path, n_per_class: int = 20) -> None:
    """Boxes of three proportions, every one of its own size and place: no near-duplicates."""
    rng = np.random.default_rng(0)
    vox = np.zeros((3 * n_per_class, 30, 30, 30), np.uint8)
    labels = np.repeat(np.arange(3), n_per_class)
    for i, k in enumerate(labels):
        side = rng.integers(3, 8, size=3)
        side[2] = [side[2], 2, 12][k]  # cube-ish, slab, pole
        lo = rng.integers(2, 28 - 2 * side)
        vox[i, lo[0] : lo[0] + 2 * side[0], lo[1] : lo[1] + 2 * side[1], lo[2] : lo[2] + 2 * side[2]] = 1
    np.savez_compressed(path, voxels=vox, labels=labels, classes=np.array(["cube", "slab", "pole"]))


def test_calibration_with_remeshed_shapes_keeps_meshes_under_the_rate(tmp_path: Path) -> None:
    import json

    import torch

    from voxforge.nn.classify.inference import save_classifier
    from voxforge.nn.classify.models import create_model

    data = tmp_path / "set.npz"
    _distinct_set(data)
    torch.manual_seed(0)
    net = create_model("voxresnet", num_classes=3, widths=(4, 8, 8), blocks=(1, 1))
    stem = tmp_path / "tiny"
    split = {"train": 36, "val": 24, "val_fraction": 0.4, "split_seed": 0}
    save_classifier(net, stem, classes=["cube", "slab", "pole"], input_kind="voxels",
                    extra={"training": {"split": split}})  # fmt: skip
    block = calibrate_classifier(data, stem.with_suffix(".json"), score="outlier", remeshed=2,
                                 synthetic_outliers=12, max_unknown_rate=0.1)  # fmt: skip
    assert block["remeshed"] == 2 and "as meshes at 2 yaws" in block["fitted_on"]
    assert block["unknown_rate"] <= 0.1 and block["unknown_rate_remeshed"] <= 0.1
    assert "remeshed copy" in block["outlier_head_fitted_on"]["inliers"]
    assert json.loads(stem.with_suffix(".json").read_text())["calibration"] == block
