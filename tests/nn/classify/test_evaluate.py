"""voxforge.nn.classify.evaluate: the never-seen shapes scored as meshes and scans arrive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from voxforge.cli import app
from voxforge.nn.classify.data import remeshed_grids, scanned_grids
from voxforge.nn.classify.evaluate import _form_estimate, calibrate_classifier
from voxforge.nn.datasets import ClassifierData

from .conftest import split_model


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
    out = _form_estimate(remeshed_grids, _AxisClassifier(), data, np.array([0, 1]), np.array([0, 1]),
                         copies, 1, lambda *_: None)  # fmt: skip
    expected = []
    for i in (0, 1):  # remeshed_grids draws shape i's yaws from default_rng([0, i])
        yaw = np.random.default_rng([0, i]).uniform(0.0, 360.0, copies)
        expected.append(np.mean(np.abs(np.cos(np.deg2rad(yaw))) > np.cos(np.deg2rad(45))))
    assert out["copies"] == copies and out["samples"] == 2
    assert out["accuracy"] == round(float(np.mean(expected)), 4)
    assert 0.0 < out["accuracy"] < 1.0  # some yaws turn the bar past 45°
    assert out["recall"] == {"along_x": out["accuracy"]}
    assert out["ci95"][0] <= out["accuracy"] <= out["ci95"][1]


def test_scanned_estimate_scores_each_shape_by_its_scans() -> None:
    vox = np.zeros((2, 32, 32, 32), np.uint8)
    vox[:, 4:28, 14:18, 4:8] = 1  # two bars along x
    data = ClassifierData(vox, np.array([0, 0]), ["along_x", "along_y"])
    out = _form_estimate(scanned_grids, _AxisClassifier(), data, np.array([0, 1]),
                         np.array([0, 1]), 6, 1, lambda *_: None)  # fmt: skip
    scans = scanned_grids(vox, 6, 0)
    share = [(_AxisClassifier().predict_logits(s).argmax(1) == 0).mean() for s in scans]
    assert out["copies"] == 6 and out["accuracy"] == round(float(np.mean(share)), 4)
    assert 0.0 < out["accuracy"] < 1.0  # the scans come at random yaws


@pytest.mark.parametrize("flag", ["--remeshed", "--scanned"])
def test_cli_copies_need_grouped(tmp_path: Path, flag: str) -> None:
    data = tmp_path / "d.npz"
    data.write_bytes(b"")
    r = CliRunner().invoke(app, ["evaluate", "classifier", "--data", str(data), flag, "4"])
    assert r.exit_code != 0 and "needs --grouped" in r.output and r.output.count("\n") == 1


def test_calibration_with_remeshed_and_scanned_shapes_keeps_each_form_under_the_rate(
    tmp_path: Path, distinct_npz: Path
) -> None:
    import json

    stem = split_model(tmp_path / "tiny")
    block = calibrate_classifier(distinct_npz, stem.with_suffix(".json"), score="outlier",
                                 remeshed=2, scanned=1, synthetic_outliers=12,
                                 max_unknown_rate=0.1)  # fmt: skip
    assert block["remeshed"] == 2 and "as meshes at 2 yaws" in block["fitted_on"]
    assert block["scanned"] == 1 and "1 simulated one-sided scans" in block["fitted_on"]
    for key in ("unknown_rate", "unknown_rate_remeshed", "unknown_rate_scanned"):
        assert block[key] <= 0.1
    assert "a remeshed copy and a scanned copy" in block["outlier_head_fitted_on"]["inliers"]
    assert json.loads(stem.with_suffix(".json").read_text())["calibration"] == block


def test_calibrated_head_reads_shape_descriptors_and_classify_supplies_them(
    tmp_path: Path, distinct_npz: Path
) -> None:
    from voxforge.core.voxelgrid import VoxelGrid
    from voxforge.nn.classify.inference import classify_object, load_classifier
    from voxforge.nn.classify.outliers import DESCRIPTORS, shape_descriptors
    from voxforge.nn.datasets import load_voxel_set

    grids = load_voxel_set(distinct_npz).voxels[:3]
    plain = split_model(tmp_path / "plain")
    calibrate_classifier(distinct_npz, plain.with_suffix(".json"), score="outlier",
                         synthetic_outliers=12, descriptors=False)  # fmt: skip
    with_desc = split_model(tmp_path / "desc")
    block = calibrate_classifier(distinct_npz, with_desc.with_suffix(".json"), score="outlier",
                                 synthetic_outliers=12)  # fmt: skip
    assert block["head"]["descriptors"] is True
    assert block["outlier_head_fitted_on"]["descriptors"] == DESCRIPTORS
    a, b = load_classifier(plain), load_classifier(with_desc)
    assert "descriptors" not in a.info["calibration"]["head"]
    fa, fb = a.predict_logits_features(grids)[1], b.predict_logits_features(grids)[1]
    assert fb.shape[1] == fa.shape[1] + DESCRIPTORS == len(b.rule.head.weight)
    np.testing.assert_allclose(fb[:, -DESCRIPTORS:], shape_descriptors(grids), rtol=1e-6)
    result = classify_object(VoxelGrid(grids[0] > 0, np.full(3, 0.01)), b)  # no shape mismatch
    assert result.open_set is not None and result.open_set["score"] == "outlier"
