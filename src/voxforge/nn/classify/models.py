"""Classifier networks behind a small registry (timm style).

``register_model`` records a builder with its input kind (``"voxels"``: (B, 1, 32, 32, 32) float
occupancy; ``"points"``: (B, P, 3) float points in the unit ball) and defaults;
``create_model(name, **overrides)`` builds one; ``list_models(pattern)`` lists them. Every model
returns (B, num_classes) logits and, through ``forward_features``, a (B, feature_dim) embedding
for later issues (retrieval, conditioning).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from voxforge.core.errors import ConfigError
from voxforge.core.registry import Registry
from voxforge.nn.weights import build_entry


@dataclass(frozen=True)
class ModelEntry:
    """A registered architecture: builder, input kind, default keyword arguments, description."""

    name: str
    builder: Callable[..., nn.Module]
    input_kind: str
    defaults: dict[str, Any] = field(default_factory=dict)
    description: str = ""


MODELS: Registry[ModelEntry] = Registry("model")


def register_model(
    name: str, *, input_kind: str, description: str = "", **defaults: Any
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register a model builder under ``name`` with its input kind and defaults."""
    if input_kind not in ("voxels", "points"):
        raise ValueError(f"input_kind must be 'voxels' or 'points', got {input_kind!r}")

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        MODELS.register(name, ModelEntry(name, builder, input_kind, dict(defaults), description))
        return builder

    return wrap


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build the registered model ``name``; ``overrides`` replace its default arguments.

    Raises:
        ConfigError: unknown name (with close matches) or an argument the model does not take.
    """
    entry = MODELS[name]
    model = build_entry(entry, overrides, "model")
    model.input_kind = entry.input_kind  # type: ignore[assignment]
    return model


def model_entry(name: str) -> ModelEntry:
    """The registry entry of ``name`` (input kind, defaults)."""
    return MODELS[name]


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching the shell ``pattern``."""
    return [n for n in MODELS.names() if fnmatch.fnmatch(n, pattern)]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------- voxel CNNs


class VoxNet(nn.Module):
    """The VoxNet baseline (Maturana & Scherer 2015) at 32³: two convs, a pool, two dense layers.

    About 0.92M parameters and 60M multiply-adds per grid.
    """

    def __init__(self, num_classes: int = 10, dropout: float = 0.4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv3d(1, 32, 5, stride=2),  # 32 -> 14
            nn.LeakyReLU(0.1),
            nn.Dropout(0.2),
            nn.Conv3d(32, 32, 3),  # 14 -> 12
            nn.LeakyReLU(0.1),
            nn.MaxPool3d(2),  # 12 -> 6
            nn.Dropout(0.3),
            nn.Flatten(),
            nn.Linear(32 * 6**3, 128),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(128, num_classes))
        self.feature_dim = 128

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 32, 32, 32) -> (B, 128)."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def _norm(kind: str, channels: int) -> nn.Module:
    """``batch``: BatchNorm3d; ``group``: GroupNorm with up to 8 groups (per sample, so a batch
    split over several training processes normalises exactly as the whole batch would)."""
    if kind == "group":
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    if kind != "batch":
        raise ConfigError(f"norm must be 'batch' or 'group', got {kind!r}")
    return nn.BatchNorm3d(channels)


def _conv_bn(cin: int, cout: int, stride: int = 1, norm: str = "batch") -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False),
        _norm(norm, cout),
        nn.ReLU(inplace=True),
    )


class ResBlock3d(nn.Module):
    """Two 3³ conv + BN layers with an identity shortcut (He et al. 2016), channels kept."""

    def __init__(self, channels: int, norm: str = "batch") -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = _norm(norm, channels)
        self.conv2 = nn.Conv3d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = _norm(norm, channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.conv1(x)))
        return self.act(x + self.bn2(self.conv2(y)))


class VoxResNet(nn.Module):
    """A residual 3D CNN for 32³ occupancy sized for 2 CPU cores.

    Stride-2 convs bring 32³ to 16³ and 8³ quickly (3D convs at full resolution dominate CPU time);
    residual blocks work at 8³ and 4³; global average and max pooling are concatenated so thin
    parts (chair legs) still register. With widths (16, 32, 64) about 0.35M parameters and 55M
    multiply-adds per grid.

    Args:
        widths: channels after the first, second and third stride-2 stage.
        blocks: residual blocks per stage at 8³ and 4³.
        dropout: before the classifier layer.
        norm: ``batch`` (BatchNorm) or ``group`` (GroupNorm: independent of how a batch is split
            across distributed training processes).
    """

    def __init__(
        self,
        num_classes: int = 10,
        widths: tuple[int, int, int] = (16, 32, 64),
        blocks: tuple[int, int] = (1, 1),
        dropout: float = 0.3,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        if len(widths) != 3 or len(blocks) != 2 or min(widths) < 1 or min(blocks) < 0:
            raise ConfigError(f"VoxResNet needs 3 widths and 2 block counts, got {widths}, {blocks}")
        w1, w2, w3 = widths
        layers: list[nn.Module] = [_conv_bn(1, w1, 2, norm), _conv_bn(w1, w2, 2, norm)]  # 32³ to 8³
        layers += [ResBlock3d(w2, norm) for _ in range(blocks[0])]
        layers.append(_conv_bn(w2, w3, 2, norm))  # 8³ to 4³
        layers += [ResBlock3d(w3, norm) for _ in range(blocks[1])]
        self.body = nn.Sequential(*layers)
        self.feature_dim = 2 * w3
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.feature_dim, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 32, 32, 32) -> (B, 2 * widths[2]): pooled mean and max of the last stage."""
        y = self.body(x)
        return torch.cat([y.mean(dim=(2, 3, 4)), y.amax(dim=(2, 3, 4))], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


# --------------------------------------------------------------------------- PointNet


def farthest_point_sample(xyz: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (B, k) of ``k`` farthest-point samples of (B, P, 3) points, starting at point 0.

    Deterministic (the first point is index 0), so a prediction does not depend on a seed.
    """
    b, p, _ = xyz.shape
    k = min(k, p)
    idx = torch.zeros(b, k, dtype=torch.long, device=xyz.device)
    dist = torch.full((b, p), float("inf"), device=xyz.device, dtype=xyz.dtype)
    last = torch.zeros(b, dtype=torch.long, device=xyz.device)
    batch = torch.arange(b, device=xyz.device)
    for i in range(k):
        idx[:, i] = last
        d = ((xyz - xyz[batch, last][:, None, :]) ** 2).sum(-1)
        dist = torch.minimum(dist, d)
        last = dist.argmax(dim=1)
    return idx


class PointNet(nn.Module):
    """A small PointNet (Qi et al. 2017) without the T-nets: FPS, shared MLP, max pooling.

    Args:
        num_points: points kept by farthest point sampling (inputs with fewer keep all).
        widths: channels of the shared per-point MLP.
        hidden: width of the dense layer after pooling.
    """

    def __init__(
        self,
        num_classes: int = 10,
        num_points: int = 512,
        widths: tuple[int, ...] = (64, 128, 256),
        hidden: int = 128,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.num_points = num_points
        layers: list[nn.Module] = []
        cin = 3
        for w in widths:
            layers += [nn.Conv1d(cin, w, 1, bias=False), nn.BatchNorm1d(w), nn.ReLU(inplace=True)]
            cin = w
        self.mlp = nn.Sequential(*layers)
        self.feature_dim = cin
        self.head = nn.Sequential(
            nn.Linear(cin, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, P, 3) -> (B, widths[-1]) max-pooled point features."""
        if x.shape[1] > self.num_points:
            idx = farthest_point_sample(x.detach(), self.num_points)
            x = torch.gather(x, 1, idx[..., None].expand(-1, -1, 3))
        return self.mlp(x.transpose(1, 2)).amax(dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


@register_model("voxnet", input_kind="voxels", description="VoxNet baseline, 0.92M params")
def voxnet(num_classes: int = 10, dropout: float = 0.4) -> nn.Module:
    return VoxNet(num_classes, dropout)


@register_model(
    "voxresnet", input_kind="voxels", description="residual 3D CNN, BN, dropout, 0.35M params"
)
def voxresnet(
    num_classes: int = 10,
    widths: tuple[int, int, int] | list[int] = (16, 32, 64),
    blocks: tuple[int, int] | list[int] = (1, 1),
    dropout: float = 0.3,
    norm: str = "batch",
) -> nn.Module:
    return VoxResNet(num_classes, tuple(widths), tuple(blocks), dropout, norm)  # type: ignore[arg-type]


@register_model("pointnet", input_kind="points", description="small PointNet, FPS 512, 0.06M params")
def pointnet(
    num_classes: int = 10,
    num_points: int = 512,
    widths: tuple[int, ...] | list[int] = (64, 128, 256),
    hidden: int = 128,
    dropout: float = 0.3,
) -> nn.Module:
    return PointNet(num_classes, num_points, tuple(widths), hidden, dropout)


# --------------------------------------------------------------------------- ensembles


class VoxEnsemble(nn.Module):
    """Several voxel networks answering together: the mean of their calibrated log-probabilities.

    Member ``m`` contributes ``log_softmax(logits_m / temperatures[m])``; the output is their mean
    (a log-probability up to a constant, used as logits downstream). The features are the members'
    pooled features side by side, and ``head`` maps them back to the output, so the open-set
    outlier head sees every member's view of the input.

    Args:
        members: per member ``{"architecture": name, "arch_args": {...}}`` (registered voxel models).
        temperatures: per member, fitted on held-out shapes (1.0 each when omitted).
    """

    def __init__(
        self,
        num_classes: int = 10,
        members: list[dict[str, Any]] | None = None,
        temperatures: list[float] | None = None,
    ) -> None:
        super().__init__()
        specs = list(members or [])
        if len(specs) < 2:
            raise ConfigError(f"an ensemble needs at least 2 members, got {len(specs)}")
        temps = list(temperatures) if temperatures is not None else [1.0] * len(specs)
        if len(temps) != len(specs) or min(temps) <= 0:
            raise ConfigError(f"need one positive temperature per member, got {temps}")
        nets = []
        for spec in specs:
            if MODELS[spec["architecture"]].input_kind != "voxels":
                raise ConfigError(f"ensemble members must be voxel models, got {spec['architecture']}")
            args = {**spec["arch_args"], "num_classes": num_classes}  # saved args carry it too
            nets.append(create_model(spec["architecture"], **args))
        self.members = nn.ModuleList(nets)
        self.register_buffer("inv_temperature", torch.tensor([1.0 / t for t in temps]))
        self.dims = [int(n.feature_dim) for n in nets]  # type: ignore[arg-type]
        self.feature_dim = sum(self.dims)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 32, 32, 32) -> (B, sum of the members' feature dims)."""
        return torch.cat([m.forward_features(x) for m in self.members], dim=1)  # type: ignore[operator]

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Features -> mean calibrated log-probability over the members."""
        parts = torch.split(features, self.dims, dim=1)
        logp = [
            torch.log_softmax(m.head(f) * self.inv_temperature[i], dim=1)  # type: ignore[operator]
            for i, (m, f) in enumerate(zip(self.members, parts, strict=True))
        ]
        return torch.stack(logp).mean(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


@register_model(
    "voxensemble", input_kind="voxels", description="mean calibrated log-probability of voxel nets"
)
def voxensemble(
    num_classes: int = 10,
    members: list[dict[str, Any]] | None = None,
    temperatures: list[float] | None = None,
) -> nn.Module:
    return VoxEnsemble(num_classes, members, temperatures)


from voxforge.nn.classify import multiview as _multiview  # noqa: E402,F401  (registers "mvlite")
