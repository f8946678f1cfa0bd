"""Reconstruction benchmark plumbing with test doubles: a perfect and an empty reconstructor."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from voxforge.cli import data as data_commands
from voxforge.cli import evaluate as recon_commands
from voxforge.core.errors import ConfigError
from voxforge.nn.metrics import surface_points
from voxforge.nn.reconstruct.eval import evaluate_reconstruction
from voxforge.nn.reconstruct.renderset import view_target


@dataclass
class Result:
    occupancy: np.ndarray
    points: np.ndarray | None = None
    kind: str = "image"


class Oracle:
    """Returns the true target of the first view: it knows the objects in evaluation order (the
    non-empty objects, ascending), which only a test double can."""

    def __init__(self, voxels: np.ndarray, order: list[int], expect_sketch: bool = False) -> None:
        self.voxels, self.order, self.expect_sketch, self.calls = voxels, order, expect_sketch, 0
        self.seen_views: list[int] = []

    def predict(self, images: list[np.ndarray], azimuths: list[float] | None = None) -> Result:
        assert azimuths is not None and len(azimuths) == len(images)
        shape = (128, 128) if self.expect_sketch else (128, 128, 3)
        assert all(im.shape == shape and im.dtype == np.uint8 for im in images)
        self.seen_views.append(len(images))
        i = self.order[self.calls]
        self.calls += 1
        target = view_target(self.voxels[i], azimuths[0])
        return Result(target.astype(np.float32), surface_points(target))


class Empty:
    def predict(self, images: list[np.ndarray], azimuths: list[float] | None = None) -> Result:
        return Result(np.zeros((32, 32, 32), np.float32))


def test_perfect_reconstructor_scores_one(tiny_npz: Path) -> None:
    vox = np.load(tiny_npz)["voxels"]
    m = evaluate_reconstruction(tiny_npz, Oracle(vox, list(range(len(vox)))), views=1)
    assert m["objects"] == len(vox) and m["skipped_empty"] == 0
    assert m["mean_iou"] == 1.0 and m["iou@0.3"] == 1.0 and m["dice"] == 1.0
    assert m["chamfer_l1"] == 0.0 and m["fscore"] == 1.0
    assert m["points_fscore"] == 1.0
    assert set(m["per_class"]) == {"box", "plate", "pole"}
    assert m["per_class"]["box"] == {"objects": 8, "mean_iou": 1.0, "chamfer_l1": 0.0, "fscore": 1.0}
    assert m["latency_ms_per_image"]["median"] >= 0.0
    json.dumps(m)  # JSON-ready


def test_empty_reconstructor_scores_zero(tiny_npz: Path) -> None:
    m = evaluate_reconstruction(tiny_npz, Empty(), views=1, limit=4)
    assert m["objects"] == 4
    assert m["mean_iou"] == 0.0 and m["dice"] == 0.0 and m["fscore"] == 0.0
    assert m["chamfer_l1"] == pytest.approx(np.sqrt(3))


def test_five_sketch_views_are_fed_and_seeded(tiny_npz: Path) -> None:
    vox = np.load(tiny_npz)["voxels"]
    sel = sorted(np.random.default_rng(3).choice(len(vox), size=3, replace=False).tolist())
    oracle = Oracle(vox, sel, expect_sketch=True)
    m = evaluate_reconstruction(tiny_npz, oracle, views=5, sketch=True, seed=3, limit=3)
    assert oracle.seen_views == [5, 5, 5]
    assert m["mean_iou"] == 1.0 and m["input"] == "sketch" and m["views"] == 5


def test_empty_objects_are_skipped_and_counted(tiny_npz: Path, tmp_path: Path) -> None:
    d = dict(np.load(tiny_npz))
    d["voxels"] = d["voxels"].copy()
    d["voxels"][2] = 0
    path = tmp_path / "holes.npz"
    np.savez(path, **d)
    order = [i for i in range(len(d["voxels"])) if i != 2]
    m = evaluate_reconstruction(path, Oracle(d["voxels"], order), views=1)
    assert m["skipped_empty"] == 1 and m["objects"] == len(order) and m["mean_iou"] == 1.0


def test_bad_arguments(tiny_npz: Path) -> None:
    with pytest.raises(ConfigError, match="views"):
        evaluate_reconstruction(tiny_npz, Empty(), views=0)
    with pytest.raises(ConfigError, match="limit"):
        evaluate_reconstruction(tiny_npz, Empty(), limit=0)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tiny_npz: Path) -> typer.Typer:
    vox = np.load(tiny_npz)["voxels"]
    sel = sorted(np.random.default_rng(0).choice(len(vox), size=2, replace=False).tolist())
    monkeypatch.setattr(
        recon_commands, "_load_reconstructor", lambda kind, weights, device: Oracle(vox, sel)
    )
    app = typer.Typer()
    app.command("reconstruction")(recon_commands.evaluate_reconstruction_cmd)
    app.command("render-set")(data_commands.render_set_cmd)
    return app


def test_cli_prints_json(cli: typer.Typer, tiny_npz: Path) -> None:
    res = CliRunner().invoke(cli, ["reconstruction", "--data", str(tiny_npz), "--limit", "2", "--json"])
    assert res.exit_code == 0, res.output
    m = json.loads(res.output)
    assert m["mean_iou"] == 1.0 and m["objects"] == 2


def test_cli_refuses_bad_flags(cli: typer.Typer, tiny_npz: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["reconstruction", "--data", str(tiny_npz), "--views", "0"])
    assert res.exit_code == 5 and "--views must be 1..24" in res.output
    res = CliRunner().invoke(cli, ["reconstruction", "--data", str(tmp_path / "nope.npz")])
    assert res.exit_code == 5 and "no such file" in res.output


def test_cli_builds_a_render_set(cli: typer.Typer, tiny_npz: Path, tmp_path: Path) -> None:
    out = tmp_path / "rs"
    args = ["render-set", "--data", str(tiny_npz), "-o", str(out), "--views", "1", "--size", "32",
            "--workers", "1", "-q"]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    index = json.loads((out / "index.json").read_text())
    assert index["views_per_object"] == 1 and index["config"]["size"] == 32
