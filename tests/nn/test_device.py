"""--device auto|cpu|cuda|mps: the choice and the errors, with fake availability."""

from __future__ import annotations

import pytest
import torch

from voxforge.core.errors import ConfigError
from voxforge.nn import device as dev


def _fake(monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize(
    ("cuda", "mps", "want"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_prefers_cuda_then_mps_then_cpu(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool, want: str
) -> None:
    _fake(monkeypatch, cuda, mps)
    assert dev.resolve_device("auto") == want
    assert dev.resolve_device(None) == want


def test_explicit_devices_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, False, False)
    assert dev.resolve_device("cpu") == "cpu"
    with pytest.raises(ConfigError, match="no CUDA device"):
        dev.resolve_device("cuda")
    with pytest.raises(ConfigError, match="MPS"):
        dev.resolve_device("mps")
    with pytest.raises(ConfigError, match="one of auto, cpu, cuda, mps"):
        dev.resolve_device("tpu")
    _fake(monkeypatch, True, True)
    assert dev.resolve_device("CUDA:1") == "cuda:1"
    assert dev.resolve_device("mps") == "mps"


def test_load_reconstructor_and_training_resolve_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both entry points go through resolve_device (a missing MPS is named, not crashed on)."""
    from voxforge.nn.reconstruct.featvox_train import FeatVoxConfig, train_featvox
    from voxforge.nn.reconstruct.inference import load_reconstructor

    _fake(monkeypatch, False, False)
    with pytest.raises(ConfigError, match="MPS"):
        load_reconstructor("image", device="mps")
    with pytest.raises(ConfigError, match="MPS"):
        train_featvox(FeatVoxConfig(device="mps"))
    seen: list[str] = []
    monkeypatch.setattr(dev, "resolve_device", lambda name: seen.append(str(name)) or "cpu")
    rec = load_reconstructor("image", device="auto")
    assert seen == ["auto"] and rec.device == "cpu"
