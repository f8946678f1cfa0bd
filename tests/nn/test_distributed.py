"""Data-parallel training through torchrun: 2 gloo processes give the 1-process result."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import voxforge
from voxforge.core.errors import ConfigError
from voxforge.nn.training import Dist, check_global_batch, shard, torchrun_command

SRC = Path(voxforge.__file__).resolve().parents[1]


def _config(tmp_path: Path, npz: Path, name: str) -> Path:
    cfg = {
        "name": name,
        "model": "voxresnet",
        # GroupNorm and no dropout: nothing depends on how a batch is split over processes
        "model_args": {"widths": [4, 8, 8], "norm": "group", "dropout": 0.0},
        "data": {"path": str(npz), "val_fraction": 0.25},
        "epochs": 2,
        "batch_size": 6,
        "warmup_epochs": 0.5,
        "vote_views": 1,
        "checkpoint_every": 1,
        "num_threads": 1,
        "output_dir": str(tmp_path / "runs"),
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _train(config: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "voxforge", "train", "classifier", "--config", str(config),
           "--quiet", *extra]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def test_two_processes_match_one_process(tmp_path: Path, tiny_npz: Path) -> None:
    from voxforge.nn.classify.train import load_train_config, train_classifier

    train_classifier(load_train_config(_config(tmp_path, tiny_npz, "one")))  # the reference
    two = _train(_config(tmp_path, tiny_npz, "two"), "--procs-per-node", "2")
    assert two.returncode == 0, two.stderr[-2000:]
    a = torch.load(tmp_path / "runs/one/last.pt", weights_only=False)
    b = torch.load(tmp_path / "runs/two/last.pt", weights_only=False)
    assert (a["meta"]["world_size"], a["meta"]["per_process_batch"]) == (1, 6)
    assert (b["meta"]["world_size"], b["meta"]["per_process_batch"]) == (2, 3)
    assert a["epoch"] == b["epoch"] == 2
    moved = 0.0
    for k, va in a["model"].items():
        vb = b["model"][k]
        assert torch.allclose(va, vb, rtol=1e-4, atol=1e-5), k
        moved = max(moved, float((va - vb).abs().max()))
    rows_a = list(csv.DictReader((tmp_path / "runs/one/metrics.csv").open()))
    rows_b = list(csv.DictReader((tmp_path / "runs/two/metrics.csv").open()))
    for ra, rb in zip(rows_a, rows_b, strict=True):  # rank 0 logs the loss of both halves
        assert float(ra["train_loss"]) == pytest.approx(float(rb["train_loss"]), rel=1e-4)
        assert float(ra["val_loss"]) == pytest.approx(float(rb["val_loss"]), rel=1e-4)
    # the weights did change over training (the comparison is not between two untouched models)
    init = torch.load(tmp_path / "runs/one/epoch_001.pt", weights_only=False)["model"]
    assert any(not torch.equal(init[k], v) for k, v in a["model"].items())
    # resume on 2 processes continues from rank 0's last.pt
    cfg3 = yaml.safe_load((tmp_path / "two.yaml").read_text())
    cfg3["epochs"] = 3
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(cfg3))
    more = _train(tmp_path / "two.yaml", "--procs-per-node", "2", "--resume")
    assert more.returncode == 0, more.stderr[-2000:]
    rows_b = list(csv.DictReader((tmp_path / "runs/two/metrics.csv").open()))
    assert [r["epoch"] for r in rows_b] == ["1", "2", "3"]


def test_a_batch_that_does_not_split_is_refused(tmp_path: Path, tiny_npz: Path) -> None:
    with pytest.raises(ConfigError, match="batch_size 6 does not split evenly over 4 processes"):
        check_global_batch(6, Dist(0, 4))
    r = _train(_config(tmp_path, tiny_npz, "odd"), "--procs-per-node", "4")
    assert r.returncode != 0
    assert "batch_size 6 does not split evenly over 4 processes" in r.stderr + r.stdout


def test_shards_cover_the_batch_once() -> None:
    idx = torch.arange(12).numpy()
    parts = [shard(idx, Dist(r, 3)) for r in range(3)]
    assert [p.tolist() for p in parts] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]


def test_torchrun_command_for_one_and_several_nodes() -> None:
    one = torchrun_command(["train", "classifier"], procs_per_node=2)
    assert one[1:] == ["-m", "torch.distributed.run", "--nproc-per-node=2", "--standalone",
                       "-m", "voxforge", "train", "classifier"]  # fmt: skip
    two = torchrun_command(["x"], nodes=2, procs_per_node=4, node_rank=1, master_addr="10.0.0.1")
    assert "--nnodes=2" in two and "--node-rank=1" in two and "--master-addr=10.0.0.1" in two
    with pytest.raises(ConfigError, match=r"--node-rank 2 must be in 0\.\.1"):
        torchrun_command(["x"], nodes=2, node_rank=2)


@pytest.mark.slow
def test_reconstruction_trains_and_resumes_on_two_processes(tmp_path: Path, tiny_npz: Path) -> None:
    from voxforge.nn.reconstruct.renderset import RenderSetConfig, build_render_set

    rs_dir = build_render_set(tiny_npz, tmp_path / "rs", RenderSetConfig(views=2), workers=1)
    tiny = {"encoder_widths": [4, 4, 8, 8, 8], "latent": 16, "voxel_widths": [4, 4, 4],
            "num_points": 64, "head_hidden": 16}  # fmt: skip
    cfg = {"name": "recon", "model_args": tiny, "data": {"path": str(rs_dir)}, "epochs": 2,
           "samples_per_epoch": 16, "batch_size": 8, "warmup_epochs": 0.0, "surface_views": 8,
           "surface_epochs": 1, "num_threads": 1, "output_dir": str(tmp_path / "runs")}  # fmt: skip
    path = tmp_path / "recon.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "voxforge", "train", "reconstruction", "--config", str(path),
            "--quiet", "--procs-per-node", "2"]  # fmt: skip
    r = subprocess.run(base, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    run = tmp_path / "runs" / "recon"
    last = torch.load(run / "last.pt", weights_only=False)
    assert (last["meta"]["world_size"], last["meta"]["per_process_batch"], last["epoch"]) == (2, 4, 2)
    assert (run / "best.pt").is_file()  # rank 0 fitted the surface heads into it
    cfg["epochs"] = 3
    path.write_text(yaml.safe_dump(cfg))
    r = subprocess.run([*base, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [row["epoch"] for row in rows] == ["1", "2", "3"]
    assert all(float(row["train_loss"]) > 0 for row in rows)
