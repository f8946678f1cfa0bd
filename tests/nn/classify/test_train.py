"""voxforge.nn.classify.train: config validation, a tiny seeded run with checkpoints and resume."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from voxforge.cli import app
from voxforge.core.errors import ConfigError
from voxforge.nn.classify.train import ClassifierTrainConfig, load_train_config, train_classifier

REPO = Path(__file__).resolve().parents[3]


def _tiny_config(tmp_path: Path, npz: Path, **over: object) -> ClassifierTrainConfig:
    data = {
        "name": "tiny",
        "model": "voxresnet",
        "model_args": {"widths": [4, 8, 8]},
        "data": {"path": str(npz), "val_fraction": 0.25},
        "epochs": 2,
        "batch_size": 6,
        "warmup_epochs": 0.5,
        "vote_views": 2,
        "vote_every": 1,
        "checkpoint_every": 1,
        "output_dir": str(tmp_path / "runs"),
        **over,
    }
    return ClassifierTrainConfig.model_validate(data)


def test_shipped_configs_validate() -> None:
    for path in sorted((REPO / "configs" / "classifier").glob("*.yaml")):
        cfg = load_train_config(path)
        assert cfg.name == f"classifier-{path.stem}"


def test_unknown_key_and_impossible_values_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "epochz": 3}))
    with pytest.raises(ConfigError, match=r"bad.yaml: epochz: Extra inputs are not permitted"):
        load_train_config(bad)
    bad.write_text(yaml.safe_dump({"name": "x", "lr": -1, "data": {"val_fraction": 1.5}}))
    with pytest.raises(ConfigError, match=r"lr: Input should be greater than 0") as err:
        load_train_config(bad)
    assert "data.val_fraction" in str(err.value) and "\n" not in str(err.value)
    bad.write_text(yaml.safe_dump({"name": "x", "model": "voxnte"}))
    with pytest.raises(ConfigError, match="did you mean voxnet"):
        load_train_config(bad)
    bad.write_text(yaml.safe_dump({"name": "x", "epochs": 2, "warmup_epochs": 5}))
    with pytest.raises(ConfigError, match=r"warmup_epochs 5\.0 must be below epochs 2"):
        load_train_config(bad)


def test_tiny_run_writes_checkpoints_logs_and_resumes(tmp_path: Path, tiny_npz: Path) -> None:
    cfg = _tiny_config(tmp_path, tiny_npz)
    stages: list[str] = []
    res = train_classifier(cfg, progress=lambda s, f: stages.append(s))
    run = tmp_path / "runs" / "tiny"
    assert res.run_dir == run and res.epochs_run == 2 and not res.stopped_early
    names = {p.name for p in run.iterdir()}
    assert {"config.yaml", "metrics.csv", "best.pt", "last.pt", "epoch_001.pt", "epoch_002.pt"} <= names
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"epoch 1/2", "epoch 2/2"} == set(stages)
    assert yaml.safe_load((run / "config.yaml").read_text())["model_args"] == {"widths": [4, 8, 8]}
    # same seed, same numbers
    again = train_classifier(_tiny_config(tmp_path / "b", tiny_npz))
    rows_b = list(csv.DictReader((tmp_path / "b" / "runs" / "tiny" / "metrics.csv").open()))
    assert [r["train_loss"] for r in rows_b] == [r["train_loss"] for r in rows]
    assert again.best_epoch == res.best_epoch
    # resume: a 3-epoch config continues at epoch 3 from last.pt
    more = train_classifier(_tiny_config(tmp_path, tiny_npz, epochs=3), resume=True)
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"] and more.epochs_run == 3
    ckpt = torch.load(run / "last.pt", weights_only=False)
    assert ckpt["epoch"] == 3 and ckpt["meta"]["classes"] == ["box", "plate", "pole"]


def test_cutmix_trains_and_changes_the_run(tmp_path: Path, tiny_npz: Path) -> None:
    plain = train_classifier(_tiny_config(tmp_path / "a", tiny_npz, epochs=1, warmup_epochs=0))
    mixed = train_classifier(_tiny_config(tmp_path / "b", tiny_npz, epochs=1, warmup_epochs=0,
                                          augment={"cutmix": 1.0}))  # fmt: skip
    rows = [next(csv.DictReader((r.run_dir / "metrics.csv").open())) for r in (plain, mixed)]
    assert float(rows[0]["train_loss"]) != pytest.approx(float(rows[1]["train_loss"]), abs=1e-6)


def test_orientation_task_trains_resumes_and_ships_a_plain_model(tmp_path: Path, tiny_npz: Path) -> None:
    over = {"epochs": 1, "warmup_epochs": 0, "orientation": 1.0, "augment": {"rotations": 4}}
    plain = train_classifier(_tiny_config(tmp_path / "a", tiny_npz, **{**over, "orientation": 0.0}))
    posed = train_classifier(_tiny_config(tmp_path / "b", tiny_npz, **over))
    rows = [next(csv.DictReader((r.run_dir / "metrics.csv").open())) for r in (plain, posed)]
    assert float(rows[1]["train_loss"]) > float(rows[0]["train_loss"])  # the pose term adds to it
    ckpt = torch.load(posed.run_dir / "last.pt", weights_only=False)
    assert ckpt["state"]["orientation_head"]["weight"].shape == (4, 16)  # 4 bins x pooled features
    plain_keys = torch.load(plain.run_dir / "last.pt", weights_only=False)["model"].keys()
    assert ckpt["model"].keys() == plain_keys  # the head is not part of the model
    more = train_classifier(_tiny_config(tmp_path / "b", tiny_npz, **{**over, "epochs": 2}), resume=True)
    assert more.epochs_run == 2
    with pytest.raises(ValueError, match="even number"):  # pydantic's ValidationError
        _tiny_config(tmp_path, tiny_npz, **{**over, "augment": {"rotations": 3}})
    with pytest.raises(ConfigError, match="voxel model"):
        train_classifier(_tiny_config(tmp_path / "c", tiny_npz, **over, model="pointnet",
                                      model_args={}))  # fmt: skip


def test_remeshed_copies_train_and_are_kept_for_reruns(
    tmp_path: Path, tiny_npz: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    over = {"epochs": 1, "warmup_epochs": 0}
    plain = train_classifier(_tiny_config(tmp_path, tiny_npz, name="plain", **over))
    aug = {"remeshed": 1.0, "remeshed_copies": 2}
    swapped = train_classifier(_tiny_config(tmp_path, tiny_npz, augment=aug, **over))
    rows = [next(csv.DictReader((r.run_dir / "metrics.csv").open())) for r in (plain, swapped)]
    assert float(rows[0]["train_loss"]) != pytest.approx(float(rows[1]["train_loss"]), abs=1e-6)
    kept = swapped.run_dir / "remeshed.npz"
    with np.load(kept) as z:
        assert tuple(z["shape"])[1:] == (2, 32, 32, 32)

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("remeshed again")

    monkeypatch.setattr("voxforge.nn.classify.train.remeshed_grids", refuse)
    again = train_classifier(_tiny_config(tmp_path, tiny_npz, augment=aug, **over))  # reads the file
    rows_b = list(csv.DictReader((again.run_dir / "metrics.csv").open()))
    assert rows_b[-1]["train_loss"] == rows[1]["train_loss"]
    with pytest.raises(AssertionError, match="remeshed again"):  # other copies: made anew
        train_classifier(_tiny_config(tmp_path, tiny_npz, augment={**aug, "remeshed_copies": 3}, **over))
    with pytest.raises(ValueError, match="do not combine"):
        _tiny_config(tmp_path, tiny_npz, augment=aug, orientation=0.5)


def test_scanned_copies_train_beside_remeshed_ones(tmp_path: Path, tiny_npz: Path) -> None:
    over = {"epochs": 1, "warmup_epochs": 0}
    alone = {"remeshed": 0.5, "remeshed_copies": 1}
    remeshed = train_classifier(_tiny_config(tmp_path, tiny_npz, name="r", augment=alone, **over))
    both = {"remeshed": 0.5, "remeshed_copies": 1, "scanned": 0.5, "scanned_copies": 2}
    mixed = train_classifier(_tiny_config(tmp_path, tiny_npz, name="m", augment=both, **over))
    with np.load(mixed.run_dir / "scanned.npz") as z:
        assert tuple(z["shape"])[1:] == (2, 32, 32, 32)
    assert (mixed.run_dir / "remeshed.npz").is_file()
    assert not (remeshed.run_dir / "scanned.npz").exists()
    rows = [next(csv.DictReader((r.run_dir / "metrics.csv").open())) for r in (remeshed, mixed)]
    assert float(rows[0]["train_loss"]) != pytest.approx(float(rows[1]["train_loss"]), abs=1e-6)
    with pytest.raises(ValueError, match="must not exceed 1"):
        _tiny_config(tmp_path, tiny_npz, augment={"remeshed": 0.6, "scanned": 0.6})
    with pytest.raises(ValueError, match="do not combine"):
        _tiny_config(tmp_path, tiny_npz, augment={"scanned": 0.5}, orientation=0.5)


def test_early_stopping(tmp_path: Path, tiny_npz: Path) -> None:
    cfg = _tiny_config(tmp_path, tiny_npz, epochs=6, lr=1e-9, early_stopping_patience=1)
    res = train_classifier(cfg)
    assert res.stopped_early and res.epochs_run < 6


def test_resume_without_checkpoint_and_missing_cuda(tmp_path: Path, tiny_npz: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to resume"):
        train_classifier(_tiny_config(tmp_path, tiny_npz), resume=True)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            train_classifier(_tiny_config(tmp_path, tiny_npz, device="cuda"))


def test_cli_train_bad_config_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("name: x\nbatch_size: 1\n")
    r = CliRunner().invoke(app, ["train", "classifier", "--config", str(bad)])
    assert r.exit_code == 5
    assert r.output.strip().count("\n") == 0 and "batch_size" in r.output


def test_cli_train_runs(tmp_path: Path, tiny_npz: Path) -> None:
    cfg = _tiny_config(tmp_path, tiny_npz, epochs=1, warmup_epochs=0)
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    r = CliRunner().invoke(app, ["train", "classifier", "--config", str(path), "--device", "cpu", "-q"])
    assert r.exit_code == 0, r.output
    assert "best epoch 1/1" in r.output and (tmp_path / "runs" / "tiny" / "best.pt").is_file()


def test_notebook_is_valid_and_its_code_compiles() -> None:
    import json

    nb = json.loads((REPO / "notebooks" / "classifier_analysis.ipynb").read_text())
    assert nb["nbformat"] == 4 and len(nb["cells"]) >= 8
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            compile("".join(cell["source"]), "<cell>", "exec")


def test_cli_ship_classifier_writes_card_and_keeps_provenance(tmp_path: Path, tiny_npz: Path) -> None:
    import json

    cfg = _tiny_config(tmp_path, tiny_npz, epochs=1, warmup_epochs=0)
    train_classifier(cfg)
    run = tmp_path / "runs" / "tiny"
    out = tmp_path / "models" / "tiny-voxel"
    out.parent.mkdir()
    args = ["train", "ship-classifier", str(run), "-o", str(out), "--views", "2"]
    r = CliRunner().invoke(app, [*args, "--trained-on", "a test machine"])
    assert r.exit_code == 0, r.output
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["voting_views"] == 2 and info["training"]["trained_on"] == "a test machine"
    assert info["training"]["split"]["val"] == 6  # the run's own validation split
    lat = info["latency"]
    assert 0 < lat["views_1_ms_per_shape"] and lat["threads"] == torch.get_num_threads()
    card = out.with_suffix(".md").read_text()
    assert "a test machine" in card and f"{lat['views_4_ms_per_shape']} ms (4 views)" in card
    # shipping again without provenance flags keeps what the card said
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert json.loads(out.with_suffix(".json").read_text())["training"]["trained_on"] == "a test machine"
    r = CliRunner().invoke(app, ["train", "ship-classifier", str(tmp_path), "-o", str(out)])
    assert r.exit_code == 5 and "no best.pt" in r.output


def test_grouped_split_keeps_near_duplicates_out_of_training(tmp_path: Path, tiny_npz: Path) -> None:
    from voxforge.nn.classify.grouping import aligned_iou
    from voxforge.nn.classify.train import prepare_data

    def config(iou: float) -> ClassifierTrainConfig:
        data = {"path": str(tiny_npz), "val_fraction": 0.25, "group_iou": iou}
        return _tiny_config(tmp_path, tiny_npz, data=data)

    with pytest.raises(ConfigError, match="every group is larger"):
        prepare_data(config(0.3))  # each class of jittered boxes chains into one group
    prep = prepare_data(config(0.95))
    assert len(prep.train) + len(prep.val) == 24 and len(prep.val) > 0
    iou = aligned_iou(prep.val.voxels, prep.train.voxels)
    same = prep.val.labels[:, None] == prep.train.labels[None, :]
    assert (iou[same] < 0.95).all()
    assert np.isin(np.unique(prep.val.labels), np.unique(prep.train.labels)).all()
