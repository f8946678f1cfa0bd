"""A multi-view classifier on frozen ImageNet features (MVCNN style, Su et al. 2015).

The voxel grid is rendered to a small shaded image (orthographic, from a fixed elevation, front
view), the frozen pretrained image encoder of :mod:`voxforge.nn.encoders.image` turns the image
into a pooled feature vector, and a small trained head maps it to class logits. Rotation voting
of :class:`voxforge.nn.classify.inference.Classifier` turns the grid about z before each render,
so ``views`` rotations are ``views`` camera positions around the object, and the averaged logits
of a linear head equal the head applied to view-pooled (averaged) features.

Only the head is trained and stored: the encoder's weights come from the installed package (see
:mod:`voxforge.nn.encoders.image`), so the shipped file holds a few thousand numbers. Training
renders every shape once at every training view and caches the pooled features
(:func:`render_features`); the head then trains in seconds, which makes grouped k-fold
cross-validation affordable.

The render (:func:`render_grids`) is plain torch: surface cells of the grid are splatted as 2³
sub-points with a z-buffer (``scatter_reduce`` min), shaded by a head-on light on normals from the
blurred occupancy gradient and darkened with depth, on a white background.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from voxforge.nn.classify.models import register_model

RENDER_SIZE = 64
"""Side of the rendered image in pixels."""
ELEVATION = 30.0
"""Camera elevation above the horizon, degrees."""
_HALF_EXTENT = 18.0
"""Half the side of the orthographic view window, in grid cells (the object spans 24 cells)."""


def _camera(yaw_deg: float, elevation_deg: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(right, up, towards-camera) unit vectors of a camera at ``yaw_deg`` about z and
    ``elevation_deg`` above the horizon (yaw 0 looks along +y)."""
    e, a = math.radians(elevation_deg), math.radians(yaw_deg)
    ca, sa = math.cos(a), math.sin(a)
    right = torch.tensor([ca, sa, 0.0])
    up = torch.tensor([sa * math.sin(e), -ca * math.sin(e), math.cos(e)])
    toward = torch.tensor([sa * math.cos(e), -ca * math.cos(e), math.sin(e)])
    return right, up, toward


def view_yaws(views: int, offset: float = 0.0) -> list[float]:
    """``views`` camera yaws in degrees, evenly spaced around z from ``offset``."""
    return [offset + 360.0 * k / views for k in range(views)]


_SUB = torch.tensor([[dx, dy, dz] for dx in (-0.25, 0.25) for dy in (-0.25, 0.25)
                     for dz in (-0.25, 0.25)])  # fmt: skip
"""Sub-points splatted per surface cell, so neighbouring cells leave no holes at 64 px."""


def render_grids(
    vox: torch.Tensor,
    yaws: list[float],
    size: int = RENDER_SIZE,
    elevation: float = ELEVATION,
) -> torch.Tensor:
    """(B, 1, S, S, S) occupancy -> (B, len(yaws), 3, size, size) grey shaded renders in [0, 1].

    Orthographic views from cameras around z at ``elevation``, z up in the image, white
    background; an empty grid renders white. Surface cells and their normals are found once and
    projected for every yaw.
    """
    occ = (vox[:, 0] > 0.5).float()
    b, s, nv = occ.shape[0], occ.shape[-1], len(yaws)
    inside = 1.0 - F.max_pool3d(1.0 - F.pad(occ, (1,) * 6, value=0.0)[:, None], 3, 1)[:, 0]
    surface = (occ > 0) & (inside < 0.5)  # occupied with an empty 26-neighbour
    blur = F.avg_pool3d(F.pad(occ[:, None], (1,) * 6), 3, 1)[:, 0]
    edge = F.pad(blur[:, None], (1,) * 6, mode="replicate")[:, 0]  # central differences
    gx = (edge[:, 2:, 1:-1, 1:-1] - edge[:, :-2, 1:-1, 1:-1]) / 2
    gy = (edge[:, 1:-1, 2:, 1:-1] - edge[:, 1:-1, :-2, 1:-1]) / 2
    gz = (edge[:, 1:-1, 1:-1, 2:] - edge[:, 1:-1, 1:-1, :-2]) / 2
    idx = surface.nonzero()  # (K, 4): batch, x, y, z
    sel = (idx[:, 0], idx[:, 1], idx[:, 2], idx[:, 3])
    normal = -torch.stack([gx[sel], gy[sel], gz[sel]], -1)
    normal = normal / normal.norm(dim=-1, keepdim=True).clamp(min=1e-6)
    pts = ((idx[:, 1:].float() - (s - 1) / 2.0)[:, None, :] + _SUB[None]).reshape(-1, 3)
    owner = idx[:, 0].repeat_interleave(len(_SUB))
    scale = size / (2.0 * _HALF_EXTENT)
    cams = [_camera(y, elevation) for y in yaws]
    right = torch.stack([c[0] for c in cams], 1)  # (3, V)
    up = torch.stack([c[1] for c in cams], 1)
    toward = torch.stack([c[2] for c in cams], 1)
    shade = (normal @ toward).abs().repeat_interleave(len(_SUB), 0)  # (P, V)
    px = torch.floor(pts @ right * scale + size / 2.0).long()
    py = torch.floor(size / 2.0 - pts @ up * scale).long()
    depth = -(pts @ toward)
    view = torch.arange(nv)[None, :].expand_as(px)
    ok = (px >= 0) & (px < size) & (py >= 0) & (py < size)
    pix = (((owner[:, None] * nv + view) * size + py) * size + px)[ok]
    depth, shade = depth[ok], shade[ok]
    n_pix = b * nv * size * size
    zbuf = torch.full((n_pix,), float("inf")).scatter_reduce(0, pix, depth, "amin")
    win = depth <= zbuf[pix]
    light = torch.zeros(n_pix).scatter_reduce(0, pix[win], shade[win], "amax")
    far = _HALF_EXTENT * 1.8
    near = ((zbuf + far) / (2 * far)).clamp(0, 1)  # 0 near .. 1 far
    grey = (0.25 + 0.75 * light) * (1.0 - 0.4 * near)
    img = torch.where(torch.isfinite(zbuf), grey, torch.ones_like(grey))
    return img.reshape(b, nv, 1, size, size).expand(b, nv, 3, size, size)


class MultiViewLite(nn.Module):
    """Render ``views`` yaws -> frozen image encoder -> view-averaged features -> head.

    The encoder is held outside the module's parameters and state dict (it is loaded from its
    package, frozen, and never stored with the head). The whole module traces to ONNX from opset
    18 (the z-buffer's scatter with a min reduction) once the encoder is loaded.

    Args:
        encoder: registered image encoder name.
        views: camera yaws per call, evenly spaced from 0, features averaged (1: the front view
            only; the classifier's rotation voting then moves the camera around the object).
        render_size: rendered image side in pixels.
        elevation: camera elevation in degrees.
        hidden: width of the head's hidden layer (0: a linear head on the features).
        dropout: dropout before the output layer (training only).
    """

    def __init__(
        self,
        num_classes: int = 10,
        encoder: str = "efficientnet-lite0",
        views: int = 1,
        render_size: int = RENDER_SIZE,
        elevation: float = ELEVATION,
        hidden: int = 0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        from voxforge.nn.encoders.image import IMAGE_ENCODERS

        self.encoder_name = encoder
        self.views = int(views)
        self.render_size = int(render_size)
        self.elevation = float(elevation)
        self.feature_dim = IMAGE_ENCODERS[encoder].channels[2]
        self.__dict__["_encoder"] = None  # loaded on first use, outside the state dict
        self.head = make_head(self.feature_dim, num_classes, hidden, dropout)

    @property
    def encoder(self) -> nn.Module:
        """The frozen encoder (loaded from its package on first use), channels-last."""
        if self.__dict__["_encoder"] is None:
            from voxforge.nn.encoders.image import load_image_encoder

            enc = load_image_encoder(self.encoder_name).to(memory_format=torch.channels_last)
            self.__dict__["_encoder"] = enc
        return self.__dict__["_encoder"]

    @torch.no_grad()
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 32, 32, 32) -> (B, feature_dim) encoder features averaged over the views."""
        return encode_views(x, view_yaws(self.views), self.encoder, self.render_size,
                            self.elevation).mean(1)  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def encode_views(
    x: torch.Tensor, yaws: list[float], encoder: nn.Module, size: int, elevation: float
) -> torch.Tensor:
    """(B, 1, S, S, S) grids -> (B, len(yaws), D) pooled encoder features of each view."""
    img = render_grids(x, yaws, size, elevation)
    b, v = img.shape[:2]
    flat = img.reshape(b * v, *img.shape[2:]).contiguous(memory_format=torch.channels_last)
    return encoder(flat).pooled.reshape(b, v, -1)


def make_head(dim: int, num_classes: int, hidden: int, dropout: float) -> nn.Sequential:
    """Dropout + linear, or a one-hidden-layer MLP when ``hidden`` > 0."""
    if hidden <= 0:
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, num_classes))
    return nn.Sequential(
        nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes)
    )


mvlite = register_model(
    "mvlite",
    input_kind="voxels",
    description="multi-view renders, frozen EfficientNet-Lite0 features, trained head",
)(MultiViewLite)
"""The registry's ``mvlite`` builds :class:`MultiViewLite` with its own arguments and defaults."""


@torch.no_grad()
def render_features(
    voxels: np.ndarray,
    yaws: list[float],
    *,
    encoder: nn.Module,
    size: int = RENDER_SIZE,
    elevation: float = ELEVATION,
    mirror: bool = False,
    batch_size: int = 16,
    progress: Any = None,
) -> np.ndarray:
    """(N, len(yaws), D) float16 pooled features of every grid seen from every yaw.

    ``mirror`` flips the grids in x first (a training augmentation). The renders and encoder
    are those of :class:`MultiViewLite`, so cached features equal what inference computes.
    """
    grids = (np.asarray(voxels) > 0).astype(np.float32)
    if mirror:
        grids = np.ascontiguousarray(grids[:, ::-1])
    out = []
    for start in range(0, len(grids), batch_size):
        t = torch.from_numpy(grids[start : start + batch_size])[:, None]
        out.append(encode_views(t, yaws, encoder, size, elevation).half().numpy())
        if progress is not None:
            progress(start + len(t), len(grids))
    return np.concatenate(out) if out else np.zeros((0, len(yaws), 0), np.float16)


def fit_head(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    num_classes: int,
    hidden: int = 0,
    dropout: float = 0.3,
    epochs: int = 30,
    lr: float = 1e-3,
    weight_decay: float = 1e-2,
    label_smoothing: float = 0.1,
    batch_size: int = 256,
    seed: int = 0,
) -> nn.Sequential:
    """Train a :func:`make_head` head on (N, D) features; returns it in eval mode.

    Features are standardised with their mean and standard deviation during training, and the
    standardisation is folded into the first linear layer afterwards, so the head takes raw
    encoder features. AdamW with a one-cycle schedule and label smoothing; deterministic in
    ``seed``.
    """
    x = np.asarray(features, np.float32)
    mean, std = x.mean(0), x.std(0) + 1e-3
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    xs = torch.from_numpy((x - mean) / std)
    ys = torch.from_numpy(np.asarray(labels, np.int64))
    head = make_head(x.shape[1], num_classes, hidden, dropout)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * max(1, math.ceil(len(x) / batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    head.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch_size):
            b = perm[i : i + batch_size]
            loss = F.cross_entropy(head(xs[b]), ys[b], label_smoothing=label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    first = next(m for m in head if isinstance(m, nn.Linear))
    with torch.no_grad():
        inv = torch.from_numpy(1.0 / std)
        first.bias -= first.weight @ torch.from_numpy(mean * (1.0 / std))
        first.weight *= inv[None, :]
    return head.eval()


@torch.no_grad()
def head_logits(head: nn.Module, features: np.ndarray) -> np.ndarray:
    """(N, C) float32 logits of (N, D) features."""
    return head(torch.from_numpy(np.asarray(features, np.float32))).numpy()
