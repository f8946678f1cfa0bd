"""voxforge.nn.weights: the models folder and safetensors written and read back as float32."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from voxforge.nn.weights import models_dir, read_safetensors, write_safetensors


def test_models_dir_is_the_repository_folder_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("VOXFORGE_MODELS", raising=False)
    assert (models_dir() / "classifier-voxel.json").is_file()
    monkeypatch.setenv("VOXFORGE_MODELS", str(tmp_path))
    assert models_dir() == tmp_path


@pytest.mark.parametrize("half", [False, True])
def test_safetensors_round_trip(tmp_path: Path, half: bool) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    path = tmp_path / "w.safetensors"
    write_safetensors(model, path, half=half, metadata={"arch": "x"})
    state = read_safetensors(path)
    assert not (tmp_path / "w.tmp").exists()
    assert state["0.weight"].dtype == torch.float32
    assert state["1.num_batches_tracked"].dtype == torch.int64
    tol = 1e-3 if half else 0.0
    assert torch.allclose(state["0.weight"], model[0].weight, atol=tol, rtol=0)
    assert torch.equal(state["0.weight"], model[0].weight) != half
