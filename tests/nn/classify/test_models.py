"""Every registered model: output shape, finite values, gradients everywhere, over-fits a batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxforge.core.errors import ConfigError
from voxforge.nn.classify.models import (
    count_parameters,
    create_model,
    farthest_point_sample,
    list_models,
    model_entry,
)

_TINY = {"architecture": "voxresnet", "arch_args": {"widths": (4, 8, 8), "dropout": 0.0}}
SMALL = {
    "voxnet": {},
    "voxresnet": {"widths": (4, 8, 8)},
    "pointnet": {"widths": (16, 32)},
    "voxensemble": {"members": [_TINY, _TINY]},
    "mvlite": {"render_size": 32, "hidden": 32},
}


def _batch(kind: str, n: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    if kind == "points":
        x = torch.rand(n, 96, 3, generator=g) * 2 - 1
        x[:, :, 2] *= (y[:, None] + 1) / 3  # classes differ in height
        return x, y
    x = (torch.rand(n, 1, 32, 32, 32, generator=g) < 0.05).float()
    for i in range(n):
        x[i, 0, 8:24, 8:24, : 8 * (int(y[i]) + 1)] = 1.0
    return x, y


def test_registry_lists_the_models() -> None:
    assert list_models() == ["mvlite", "pointnet", "voxensemble", "voxnet", "voxresnet"]
    assert list_models("voxn*") == ["voxnet"]
    assert model_entry("pointnet").input_kind == "points"


def test_unknown_model_and_bad_argument_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="did you mean voxnet"):
        create_model("voxnett")
    with pytest.raises(ConfigError, match="model 'voxnet'"):
        create_model("voxnet", depth=3)


def test_parameter_budgets() -> None:
    assert count_parameters(create_model("voxnet")) == 917_866
    assert count_parameters(create_model("voxresnet")) == 347_930
    assert count_parameters(create_model("voxresnet")) <= 1_000_000
    assert count_parameters(create_model("pointnet")) < 100_000


@pytest.mark.parametrize("name", list_models())
def test_shapes_finite_and_gradients_reach_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, **SMALL[name])
    x, y = _batch(model.input_kind)
    logits = model(x)
    assert logits.shape == (4, 3) and torch.isfinite(logits).all()
    feats = model.forward_features(x)
    assert feats.shape == (4, model.feature_dim)
    torch.nn.functional.cross_entropy(logits, y).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


@pytest.mark.parametrize("name", list_models())
def test_overfits_one_batch(name: str) -> None:
    torch.manual_seed(0)
    no_dropout = {} if name == "voxensemble" else {"dropout": 0.0}
    model = create_model(name, num_classes=3, **no_dropout, **SMALL[name])
    x, y = _batch(model.input_kind, n=4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(25):
        opt.zero_grad()
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        loss.backward()
        opt.step()
    # judged in training mode: batch-norm running statistics lag after 25 steps
    assert (logits.argmax(1) == y).all()
    assert float(loss.detach()) < 0.2


def test_ensemble_averages_calibrated_member_log_probabilities() -> None:
    torch.manual_seed(0)
    ens = create_model("voxensemble", num_classes=3, temperatures=[0.5, 2.0], **SMALL["voxensemble"])
    ens.eval()
    x, _ = _batch("voxels")
    with torch.no_grad():
        a, b = (m(x) for m in ens.members)
        want = (torch.log_softmax(a / 0.5, 1) + torch.log_softmax(b / 2.0, 1)) / 2
        assert torch.allclose(ens(x), want, atol=1e-6)
        f = ens.forward_features(x)
        assert f.shape == (4, ens.feature_dim) and torch.allclose(ens.head(f), want, atol=1e-6)
    saved = {"architecture": "voxresnet", "arch_args": dict(ens.members[0].arch_args)}
    assert saved["arch_args"]["num_classes"] == 3  # as a shipped JSON records it
    assert create_model("voxensemble", num_classes=3, members=[saved, saved]).feature_dim == 32
    with pytest.raises(ConfigError, match="at least 2 members"):
        create_model("voxensemble", members=[_TINY])
    with pytest.raises(ConfigError, match="one positive temperature"):
        create_model("voxensemble", members=[_TINY, _TINY], temperatures=[1.0])
    with pytest.raises(ConfigError, match="voxel models"):
        create_model("voxensemble", members=[_TINY, {"architecture": "pointnet", "arch_args": {}}])


def test_farthest_point_sampling_picks_the_extremes() -> None:
    pts = torch.tensor([[[0.0, 0, 0], [0.1, 0, 0], [1, 0, 0], [0.5, 0, 0], [0.9, 0, 0]]])
    assert farthest_point_sample(pts, 3).tolist() == [[0, 2, 3]]
    rng = np.random.default_rng(0)
    cloud = torch.from_numpy(rng.random((2, 200, 3)).astype(np.float32))
    idx = farthest_point_sample(cloud, 50)
    assert idx.shape == (2, 50) and all(len(set(r.tolist())) == 50 for r in idx)


def test_pointnet_is_order_invariant() -> None:
    torch.manual_seed(0)
    model = create_model("pointnet", num_classes=3, num_points=1000).eval()
    x, _ = _batch("points", n=2)
    perm = torch.randperm(x.shape[1])
    with torch.no_grad():
        assert torch.allclose(model(x), model(x[:, perm]), atol=1e-5)
