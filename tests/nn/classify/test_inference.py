"""Shipped-model format, input preparation, classify/evaluate commands, report and exports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from voxforge.cli import app
from voxforge.core.errors import ConfigError, GeometryError, InputFormatError
from voxforge.core.voxelgrid import LEGO_PITCH, VoxelGrid
from voxforge.nn.classify.evaluate import (
    classification_metrics,
    depth_views,
    evaluate_classifier,
    grad_cam,
)
from voxforge.nn.classify.inference import (
    classify_object,
    load_classifier,
    object_to_grid,
    voxelgrid_to_input,
)

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def models_env(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VOXFORGE_MODELS", str(tiny_model_dir))
    return tiny_model_dir


def test_save_load_round_trip(models_env: Path) -> None:
    clf = load_classifier("tiny-voxel")
    info = json.loads((models_env / "tiny-voxel.json").read_text())
    assert info["input"]["shape"] == [None, 1, 32, 32, 32] and info["labels"] == ["box", "plate", "pole"]
    assert clf.classes == info["labels"] and clf.input_kind == "voxels"
    again = load_classifier(models_env / "tiny-voxel.safetensors")
    x = np.zeros((2, 32, 32, 32), np.uint8)
    x[:, 10:20, 10:20, 4:28] = 1
    p = clf.predict_proba(x, views=4)
    assert p.shape == (2, 3) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert np.array_equal(p, again.predict_proba(x, views=4))
    with pytest.raises(ConfigError, match="shipped: tiny-voxel"):
        load_classifier("nope")


def test_voting_over_four_exact_rotations_is_rotation_invariant(models_env: Path) -> None:
    clf = load_classifier("tiny-voxel")
    x = np.zeros((1, 32, 32, 32), np.uint8)
    x[0, 6:20, 12:16, 4:10] = 1
    rot = np.rot90(x, 1, axes=(1, 2))
    assert np.allclose(clf.predict_proba(x, views=4), clf.predict_proba(rot, views=4), atol=1e-6)


def test_voxelgrid_to_input_keeps_proportions() -> None:
    occ = np.zeros((10, 5, 15), bool)
    occ[:] = True  # 80 x 40 x 48 mm on the LEGO lattice
    out = voxelgrid_to_input(occ, LEGO_PITCH)
    nz = np.argwhere(out)
    assert (nz.max(0) - nz.min(0) + 1).tolist() == [24, 12, 14]
    assert out.sum() == 24 * 12 * 14
    cube = voxelgrid_to_input(np.ones((24, 24, 24), bool))
    assert cube[4:28, 4:28, 4:28].all() and cube.sum() == 24**3
    with pytest.raises(GeometryError, match="empty"):
        voxelgrid_to_input(np.zeros((4, 4, 4)))


def test_object_to_grid_on_a_real_mesh(shared_data: Path) -> None:
    from voxforge.io import load_mesh

    g = object_to_grid(load_mesh(shared_data / "meshes" / "spot.obj"))
    nz = np.argwhere(g)
    assert g.shape == (32, 32, 32) and (nz.max(0) - nz.min(0) + 1).max() == 24


def test_classify_object_reports_low_confidence(models_env: Path) -> None:
    grid = VoxelGrid(np.ones((6, 6, 6), bool), pitch=0.01)
    res = classify_object(grid, load_classifier("tiny-voxel"), k=3, views=1)
    assert [c for c, _ in res.top] != [] and len(res.top) == 3
    assert abs(sum(p for _, p in res.top) - 1.0) < 1e-5
    assert res.low_confidence == (res.top[0][1] < 0.5)
    assert res.to_dict()["top"][0]["class"] == res.top[0][0]


def test_cli_classify(models_env: Path, shared_data: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app, ["classify", str(shared_data / "meshes" / "teapot.obj"), "--model", "tiny-voxel", "--json"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert len(out["top"]) == 3 and {t["class"] for t in out["top"]} == {"box", "plate", "pole"}
    r = CliRunner().invoke(app, ["classify", str(shared_data / "README.md"), "--model", "tiny-voxel"])
    assert r.exit_code == 2 and "README.md" in r.output and r.output.count("\n") == 1
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros((4, 4, 4), np.uint8))
    r = CliRunner().invoke(app, ["classify", str(empty), "--model", "tiny-voxel"])
    assert r.exit_code != 0 and "empty" in r.output and r.output.count("\n") == 1


def test_classification_metrics_exact() -> None:
    m = classification_metrics(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), ["a", "b", "c"])
    assert m["accuracy"] == 0.6 and m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert m["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["per_class"]["b"]["precision"] == pytest.approx(0.6667)
    assert m["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_cli_evaluate_json_and_bad_data(models_env: Path, tiny_npz: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app,
        [
            "evaluate",
            "classifier",
            "--data",
            str(tiny_npz),
            "--model",
            "tiny-voxel",
            "--json",
            "--views",
            "2",
        ],
    )
    assert r.exit_code == 0, r.output
    m = json.loads(r.output)
    assert m["samples"] == 24 and m["views"] == 2 and len(m["confusion_matrix"]) == 3
    assert sum(map(sum, m["confusion_matrix"])) == 24 and set(m["per_class"]) == {"box", "plate", "pole"}
    bad = tmp_path / "bad.npz"
    np.savez(bad, voxels=np.zeros((3, 30, 30)), labels=np.zeros(3, np.int64), classes=np.array(["a"]))
    r = CliRunner().invoke(app, ["evaluate", "classifier", "--data", str(bad), "--model", "tiny-voxel"])
    assert r.exit_code == 2 and "bad.npz" in r.output and r.output.count("\n") == 1
    other = tmp_path / "other.npz"
    np.savez(
        other, voxels=np.zeros((2, 30, 30, 30)), labels=np.zeros(2, np.int64), classes=np.array(["x"])
    )
    with pytest.raises(InputFormatError, match="do not match the model"):
        evaluate_classifier(other, "tiny-voxel")


def test_report_folder(models_env: Path, tiny_npz: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    m = evaluate_classifier(tiny_npz, "tiny-voxel", views=1, report_dir=out)
    names = {a["name"] for a in json.loads((out / "manifest.json").read_text())["outputs"]}
    assert names == {"metrics.json", "confusion.png", "misclassified.png", "saliency.html"}
    assert json.loads((out / "metrics.json").read_text())["accuracy"] == m["accuracy"]
    html = (out / "saliency.html").read_text()
    assert html.count("Grad-CAM") >= 1 and "plotly" in html.lower() and len(html) > 1_000_000
    from PIL import Image

    assert Image.open(out / "confusion.png").size[0] > 300


def test_grad_cam_and_depth_views(models_env: Path) -> None:
    clf = load_classifier("tiny-voxel")
    g = np.zeros((32, 32, 32), np.uint8)
    g[8:24, 8:24, 8:12] = 1
    cam = grad_cam(clf.model, g)
    assert cam.shape == (32, 32, 32) and cam.min() >= 0 and cam.max() <= 1
    img = depth_views(g)
    assert img.shape == (32, 96) and (img > 0).sum() == 16 * 4 * 2 + 16 * 16
    assert img.max() == pytest.approx(1 - 0.7 * 8 / 32)  # the nearest faces are 8 cells in


def test_onnx_matches_onnxruntime(models_env: Path, tmp_path: Path) -> None:
    from voxforge.nn.classify.export import check_onnx, example_input, export_onnx

    clf = load_classifier("tiny-voxel")
    path = export_onnx(clf, tmp_path / "m.onnx")
    check = check_onnx(clf, path, example_input(clf, batch=5, seed=1).numpy())
    assert check["same_prediction"] == 1.0 and check["max_abs_diff"] < 1e-4


@pytest.mark.slow
def test_coreml_conversion(models_env: Path, tmp_path: Path) -> None:
    pytest.importorskip("coremltools")
    import coremltools as ct
    import torch

    from voxforge.nn.classify.export import export_coreml

    clf = load_classifier("tiny-voxel")
    path = export_coreml(clf, tmp_path / "m.mlpackage")
    # running it needs macOS; the saved program's contract and layers are checked here
    spec = ct.utils.load_spec(str(path))
    (inp,), (out,) = spec.description.input, spec.description.output
    assert inp.name == "input" and list(inp.type.multiArrayType.shape) == [1, 1, 32, 32, 32]
    assert out.name == "logits"
    assert ", ".join(clf.classes) in spec.description.metadata.shortDescription
    ops = [
        op.type
        for fn in spec.mlProgram.functions.values()
        for block in fn.block_specializations.values()
        for op in block.operations
    ]
    n_conv = sum(isinstance(m, torch.nn.Conv3d) for m in clf.model.modules())
    assert ops.count("conv") == n_conv and "linear" in ops


def test_shipped_voxel_model_contract() -> None:
    js = REPO / "models" / "classifier-voxel.json"
    if not js.is_file():
        pytest.skip("classifier-voxel not shipped in this checkout")
    info = json.loads(js.read_text())
    assert info["input"]["shape"] == [None, 1, 32, 32, 32] and len(info["labels"]) == 10
    assert (REPO / "models" / "classifier-voxel.md").is_file()
    assert (REPO / "models" / "classifier-voxel.safetensors").stat().st_size < 5_000_000
    clf = load_classifier("classifier-voxel")
    assert clf.classes[0] == "bathtub" and clf.input_kind == "voxels"


def test_calibrated_model_answers_unknown_by_its_rule(models_env: Path, tmp_path: Path) -> None:
    import shutil

    for ext in (".json", ".safetensors"):
        shutil.copy(models_env / f"tiny-voxel{ext}", tmp_path / f"cal{ext}")
    js = tmp_path / "cal.json"
    grid = VoxelGrid(np.ones((6, 6, 6), bool), pitch=0.01)
    for threshold, unknown in ((1.01, True), (0.0, False)):  # top probability always < 1.01
        info = json.loads(js.read_text())
        info["calibration"] = {"temperature": 2.0, "score": "max_probability", "threshold": threshold}
        js.write_text(json.dumps(info))
        clf = load_classifier(js)
        res = classify_object(grid, clf, k=2, views=2).to_dict()
        low = unknown or res["top"][0]["probability"] < 0.5
        assert res["unknown"] is unknown and res["low_confidence"] is low
        assert res["label"] == ("unknown" if unknown else res["top"][0]["class"])
        assert res["open_set"]["threshold"] == threshold
    x = np.zeros((1, 32, 32, 32), np.uint8)
    x[0, 8:20, 8:20, 4:24] = 1
    logits = clf.predict_logits(x, views=2)
    expected = np.exp(logits / 2) / np.exp(logits / 2).sum()
    assert np.allclose(clf.predict_proba(x, views=2), expected, atol=1e-5)


def test_cli_states_the_unknown_rule_the_right_way_round(models_env: Path, tmp_path: Path) -> None:
    import shutil

    import trimesh

    for ext in (".json", ".safetensors"):
        shutil.copy(models_env / f"tiny-voxel{ext}", tmp_path / f"rule{ext}")
    js = tmp_path / "rule.json"
    box = tmp_path / "box.stl"
    trimesh.creation.box((0.3, 0.2, 0.4)).export(box)
    dim = (
        load_classifier(js)
        .predict_logits_features(np.zeros((1, 32, 32, 32), np.uint8), views=1)[1]
        .shape[1]
    )
    head = {"mean": [0.0] * dim, "scale": [1.0] * dim, "weight": [0.0] * dim, "bias": 5.0}
    rules = {  # each always says unknown: the score is on the unknown side of its threshold
        "outlier": ({"head": head, "threshold": 0.0}, "outlier 5.00 above the threshold 0.00"),
        "max_probability": ({"threshold": 1.01}, "below the threshold 1.01"),
        "energy": ({"threshold": -1e9}, "above the threshold"),
    }
    for score, (extra, said) in rules.items():
        info = json.loads(js.read_text())
        info["calibration"] = {"temperature": 1.0, "score": score, **extra}
        js.write_text(json.dumps(info))
        r = CliRunner().invoke(app, ["classify", str(box), "--model", str(js)])
        assert r.exit_code == 0 and "unknown shape" in r.output and said in r.output, (score, r.output)


def test_outlier_rule_reads_the_features_in_classify_object(models_env: Path, tmp_path: Path) -> None:
    import shutil

    for ext in (".json", ".safetensors"):
        shutil.copy(models_env / f"tiny-voxel{ext}", tmp_path / f"out{ext}")
    js = tmp_path / "out.json"
    clf = load_classifier(js)
    grid = VoxelGrid(np.ones((6, 5, 9), bool), pitch=0.01)
    feats = clf.predict_logits_features(object_to_grid(grid)[None], views=2)[1]
    dim = feats.shape[1]
    w = np.zeros(dim)
    w[int(np.argmax(np.abs(feats[0])))] = 1.0  # the score is one standardised feature
    for bias, unknown in ((5.0, True), (-5.0, False)):
        head = {"mean": [0.0] * dim, "scale": [1.0] * dim, "weight": w.tolist(), "bias": bias}
        info = json.loads(js.read_text())
        info["calibration"] = {"temperature": 1.0, "score": "outlier", "threshold": 0.0, "head": head}
        js.write_text(json.dumps(info))
        res = classify_object(grid, load_classifier(js), k=2, views=2).to_dict()
        expected = float(np.abs(feats[0]).max()) + bias
        assert res["unknown"] is unknown and res["open_set"]["score"] == "outlier"
        assert res["open_set"]["value"] == pytest.approx(expected, abs=1e-3)
    logits, _ = clf.predict_logits_features(object_to_grid(grid)[None], views=2)
    assert np.allclose(logits, clf.predict_logits(object_to_grid(grid)[None], views=2), atol=1e-5)


def test_shipped_model_calls_non_furniture_unknown(shared_data: Path) -> None:
    from voxforge.nn.classify.inference import classify_file

    info = json.loads((REPO / "models" / "classifier-voxel.json").read_text())
    if "calibration" not in info:
        pytest.skip("classifier-voxel carries no calibration in this checkout")
    for name in ("Duck.glb", "teapot.obj", "fuze.obj"):
        res = classify_file(shared_data / "meshes" / name, REPO / "models" / "classifier-voxel.json")
        assert res.unknown and res.label == "unknown" and res.low_confidence, name
    from voxforge.nn.datasets import stratified_split

    d = np.load(shared_data / "modelnet10_vox30_train.npz")
    val = stratified_split(d["labels"], 0.15, 0)[1]  # the model's validation shapes
    chair = val[d["labels"][val] == 2][0]
    grid = VoxelGrid(d["voxels"][chair] > 0, pitch=0.01)
    known = classify_object(grid, load_classifier(REPO / "models" / "classifier-voxel.json"))
    assert not known.unknown and known.label == "chair"


def test_shipped_model_calls_a_real_scan_of_a_milk_carton_unknown(shared_data: Path) -> None:
    """A real one-sided Kinect scan of a milk carton (not furniture) through the scan path."""
    from voxforge.nn.classify.inference import classify_file

    info = json.loads((REPO / "models" / "classifier-voxel.json").read_text())
    if "calibration" not in info:
        pytest.skip("classifier-voxel carries no calibration in this checkout")
    model = REPO / "models" / "classifier-voxel.json"
    res = classify_file(shared_data / "scans" / "milk_color.pcd", model)
    assert res.unknown and res.label == "unknown"
    assert res.open_set is not None and res.open_set["value"] > res.open_set["threshold"]


def test_shipped_card_open_set_table_is_what_classify_answers(shared_data: Path) -> None:
    """Every row of the card's non-furniture table (``open_set_check``) is what ``voxforge
    classify`` answers for that mesh today: label, top class, probability and outlier score."""
    from voxforge.nn.classify.inference import classify_file

    info = json.loads((REPO / "models" / "classifier-voxel.json").read_text())
    checks = info.get("open_set_check") or {}
    if "calibration" not in info or not checks:
        pytest.skip("classifier-voxel carries no calibrated open-set table in this checkout")
    for name, row in checks.items():
        res = classify_file(shared_data / "meshes" / name, REPO / "models" / "classifier-voxel.json")
        assert res.label == row["label"] and res.top[0][0] == row["top"], name
        assert res.top[0][1] == pytest.approx(row["probability"], abs=2e-3), name
        assert res.open_set is not None
        assert res.open_set["value"] == pytest.approx(row["score"], abs=2e-3), name


def test_cli_evaluate_grouped_refuses_a_set_without_a_validation_group(
    models_env: Path, tiny_npz: Path
) -> None:
    # each class of the tiny set is one chain of look-alikes: no group fits a 15% share
    args = ["evaluate", "classifier", "--data", str(tiny_npz), "--model", "tiny-voxel"]
    args += ["--grouped", "-q"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 5 and "nothing to validate on" in r.output and r.output.count("\n") == 1


def test_cli_ensemble_refuses_members_without_a_shared_split(models_env: Path, tiny_npz: Path) -> None:
    base = ["train", "ensemble-classifier", "--data", str(tiny_npz), "-o", str(models_env / "ens")]
    one = CliRunner().invoke(app, [*base, "--member", "tiny-voxel"])
    assert one.exit_code != 0 and "at least 2 members" in one.output
    two = CliRunner().invoke(app, [*base, "--member", "tiny-voxel", "--member", "tiny-voxel"])
    assert two.exit_code != 0 and "same training split" in two.output
    assert two.output.count("\n") == 1 and not (models_env / "ens.json").exists()
