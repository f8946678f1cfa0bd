"""Training and shipping the completion network: the shipped recipe is deterministic."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from voxforge.core.errors import ConfigError
from voxforge.nn.completion.ship import init_text, schedule_text, ship_completion
from voxforge.nn.completion.train import initial_model, load_completion_config, train_completion

ROOT = Path(__file__).resolve().parents[3]


def test_the_shipped_recipe_runs_a_fixed_number_of_steps() -> None:
    cfg = load_completion_config(ROOT / "configs/completion/unet.yaml")
    assert cfg.schedule == "steps" and cfg.max_minutes is None and cfg.steps > 0
    assert not Path(cfg.data.path).is_absolute()


def test_each_stage_of_the_shipped_recipe_starts_where_the_one_before_ends() -> None:
    names = [*(f"unet-stage{i}.yaml" for i in range(1, 8)), "unet.yaml"]
    stages = [load_completion_config(ROOT / "configs/completion" / n) for n in names]
    assert stages[0].init is None
    for before, after in itertools.pairwise(stages):
        assert after.init == f"{before.output_dir}/{before.name}/best.pt"
        assert after.widths == before.widths and after.max_minutes is None
    assert len({s.name for s in stages}) == len(names) and stages[-1].name == "completion-unet"
    assert stages[0].data.cache != stages[1].data.cache


def _tiny(shared_data: Path, tmp_path: Path, out: str, **extra):
    over = {
        "data": {"path": str(shared_data / "modelnet10_vox30_train.npz"),
                 "cache": str(tmp_path / "set.npz"), "limit_objects": 12, "scans_per_object": 1},
        "widths": [4, 8], "steps": 4, "batch_size": 2, "validate_every": 2, "val_samples": 2,
        "output_dir": str(tmp_path / out), "init": None, **extra,
    }  # fmt: skip
    return train_completion(load_completion_config(ROOT / "configs/completion/unet.yaml", over))


def test_a_second_stage_starts_from_the_first_stages_weights(tmp_path, shared_data) -> None:
    a = _tiny(shared_data, tmp_path, "a")
    ckpt = str(a.run_dir / "best.pt")
    cfg = load_completion_config(ROOT / "configs/completion/unet.yaml", {"widths": [4, 8], "init": ckpt})
    start = initial_model(cfg).state_dict()
    wa = torch.load(ckpt, weights_only=False)["model"]
    assert all(torch.equal(start[k], wa[k]) for k in wa)
    b = _tiny(shared_data, tmp_path, "b", init=ckpt)
    assert torch.load(b.run_dir / "best.pt", weights_only=False)["meta"]["init"] == ckpt
    with pytest.raises(ConfigError, match="widths"):
        initial_model(load_completion_config(ROOT / "configs/completion/unet.yaml",
                                             {"widths": [4, 16], "init": ckpt}))  # fmt: skip
    assert "earlier stage" in init_text({"init": ckpt}) and "random" in init_text({})


def test_two_runs_from_the_seed_give_the_same_weights(tmp_path, shared_data) -> None:
    a, b = _tiny(shared_data, tmp_path, "a"), _tiny(shared_data, tmp_path, "b")
    assert a.steps_run == b.steps_run == 4 and a.best_step == b.best_step
    wa = torch.load(a.run_dir / "best.pt", weights_only=False)["model"]
    wb = torch.load(b.run_dir / "best.pt", weights_only=False)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (a.run_dir / "metrics.csv").read_text().splitlines()[0].startswith("step,lr")


def test_ship_writes_weights_and_a_card_naming_the_recipe(tmp_path, shared_data) -> None:
    run = _tiny(shared_data, tmp_path, "r")
    stem = tmp_path / "models" / "completion-test"
    info = ship_completion(run.run_dir, stem, command="voxforge train completion --config X",
                           trained_on="test", limit=2)  # fmt: skip
    card = stem.with_suffix(".md").read_text(encoding="utf-8")
    assert stem.with_suffix(".safetensors").is_file() and info["training"]["steps_run"] == 4
    assert "fixed 4 steps" in card and "not reproducible" not in card
    assert "| network (completion-unet) |" in card and "mirror symmetry + hole filling" in card


def test_the_card_flags_a_run_on_the_clock() -> None:
    timed = {"schedule": "time", "max_minutes": 44, "steps": 100000, "steps_run": 761}
    assert "not reproducible" in schedule_text(timed)
    stopped = {"schedule": "steps", "max_minutes": 10, "steps": 2000, "steps_run": 900}
    assert "900 of 2000" in schedule_text(stopped) and "not reproducible" in schedule_text(stopped)
    full = {"schedule": "steps", "max_minutes": None, "steps": 2000, "steps_run": 2000, "lr": 0.002}
    assert "not reproducible" not in schedule_text(full)
