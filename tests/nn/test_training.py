"""voxforge.nn.training: the schedule, run checkpoints and the CSV log."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from voxforge.core.errors import ConfigError
from voxforge.nn.training import append_csv, lr_factor, resume_checkpoint, save_checkpoint


def test_lr_schedule_warms_up_then_decays_to_the_floor() -> None:
    assert lr_factor(0, 100, 10, 0.01) == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, 0.01) == pytest.approx(1.0)
    assert lr_factor(10, 100, 10, 0.01) == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, 0.01) == pytest.approx(0.505)
    assert lr_factor(100, 100, 10, 0.01) == pytest.approx(0.01)


def _run_parts(seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer, object]:
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, 10, 2, 0.1))
    return model, opt, sched


def test_checkpoint_round_trip_restores_model_optimizer_and_state(tmp_path: Path) -> None:
    model, opt, sched = _run_parts(0)
    model(torch.ones(4, 3)).sum().backward()
    opt.step()
    sched.step()
    save_checkpoint(tmp_path / "last.pt", model, opt, sched, {"epoch": 3}, {"arch": "x"}, 3)
    assert not (tmp_path / "last.tmp").exists()
    fresh, fresh_opt, fresh_sched = _run_parts(1)
    state: dict = {"epoch": 0}
    resume_checkpoint(tmp_path, "cpu", fresh, fresh_opt, fresh_sched, state)
    assert state == {"epoch": 3}
    assert torch.equal(fresh.weight, model.weight)
    assert fresh_sched.state_dict()["last_epoch"] == 1
    assert fresh_opt.state_dict()["state"][0]["step"] == 1


def test_resume_without_last_checkpoint_is_a_config_error(tmp_path: Path) -> None:
    model, opt, sched = _run_parts(0)
    with pytest.raises(ConfigError, match="nothing to resume"):
        resume_checkpoint(tmp_path, "cpu", model, opt, sched, {})


def test_append_csv_writes_the_header_once(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    append_csv(path, {"epoch": 1, "loss": 0.5})
    append_csv(path, {"epoch": 2, "loss": 0.25})
    assert path.read_text().splitlines() == ["epoch,loss", "1,0.5", "2,0.25"]
