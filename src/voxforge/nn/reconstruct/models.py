"""Image/sketch -> 3D networks: a small 2D encoder and voxel, point and mesh heads.

Every network here takes (B, 3, S, S) float images in [0, 1] (S = 128; a sketch is its grey
copied to three channels) and returns a :class:`ReconOutput`:

- ``voxel_logits`` (B, 32, 32, 32): occupancy logits, grid axes (x, y, z), z up, in the view's
  yaw frame (the object's grid turned about z by minus the camera azimuth, see
  ``voxforge.nn.reconstruct.renderset.view_target``);
- ``confidence_logits`` (B, 32, 32, 32): per-voxel logit of "this voxel's prediction is right",
  the weight of multi-view fusion (:mod:`voxforge.nn.reconstruct.inference`);
- ``points`` (B, N, 3) and ``mesh_vertices`` (B, 642, 3) in the grid's unit cube
  ``[-0.5, 0.5]^3`` (cell ``i`` has its centre at ``(i + 0.5) / 32 - 0.5``);
- ``azimuth_logits`` (B, A): only networks built with ``azimuth_bins=A > 0`` (object-frame
  models), else None. Bin ``k`` is the camera azimuth ``k * 360 / A`` degrees; an object-frame
  model's voxels, points and mesh are in the OBJECT's frame (the data file's, azimuth 0) and the
  view's yaw frame is that grid turned by minus the predicted azimuth (:func:`decode_azimuth`).

The encoder halves the image five times with residual blocks (128 -> 4 px) so almost all of the
2D work happens at 64 px and below, flattens the 4 x 4 map into a small latent vector (a global
layer, so the network is free to learn which image axis becomes which grid axis) and lifts it to
a 4³ seed that 3D transposed convolutions grow to 32³. Models register by name like the
classifiers of :mod:`voxforge.nn.classify.models` (a separate registry: the inputs are images).
"""

from __future__ import annotations

import fnmatch
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import nn

from voxforge.core.errors import ConfigError
from voxforge.core.registry import Registry
from voxforge.nn.weights import build_entry

VOXELS = 32
"""Side of the predicted occupancy grid (cells)."""
IMAGE_SIZE = 128
"""Side of the input image (pixels)."""
ICO_LEVEL = 3
"""Icosphere subdivisions of the mesh template (level 3: 642 vertices, 1280 faces)."""


@dataclass
class ReconOutput:
    """What a reconstruction network returns for a batch of B images (shapes in the module doc)."""

    voxel_logits: torch.Tensor
    confidence_logits: torch.Tensor
    points: torch.Tensor
    mesh_vertices: torch.Tensor
    azimuth_logits: torch.Tensor | None = None


@dataclass(frozen=True)
class ReconEntry:
    """A registered reconstruction architecture: builder, default keyword arguments, description."""

    name: str
    builder: Callable[..., nn.Module]
    defaults: dict[str, Any] = field(default_factory=dict)
    description: str = ""


RECON_MODELS: Registry[ReconEntry] = Registry("reconstruction model")


def register_recon_model(
    name: str, *, description: str = "", **defaults: Any
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register a reconstruction network builder under ``name`` with its defaults."""

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        RECON_MODELS.register(name, ReconEntry(name, builder, dict(defaults), description))
        return builder

    return wrap


def create_recon_model(name: str, **overrides: Any) -> nn.Module:
    """Build the registered reconstruction network ``name``; ``overrides`` replace its defaults.

    Raises:
        ConfigError: unknown name (with close matches) or an argument the builder does not take.
    """
    return build_entry(RECON_MODELS[name], overrides, "reconstruction model")


def list_recon_models(pattern: str = "*") -> list[str]:
    """Registered reconstruction network names matching the shell ``pattern``."""
    return [n for n in RECON_MODELS.names() if fnmatch.fnmatch(n, pattern)]


@lru_cache(maxsize=4)
def icosphere(level: int = ICO_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Unit icosphere: (V, 3) float32 vertices and (F, 3) int64 faces (level 3: 642 / 1280).

    The mesh head deforms this template; trimesh builds it, cached because it never changes.
    """
    import trimesh

    ico = trimesh.creation.icosphere(subdivisions=level, radius=1.0)
    v = np.asarray(ico.vertices, dtype=np.float32)
    f = np.asarray(ico.faces, dtype=np.int64)
    v.setflags(write=False)
    f.setflags(write=False)
    return v, f


# --------------------------------------------------------------------------- 2D encoder


class ResBlock2d(nn.Module):
    """A stride-2 basic residual block (He et al. 2016): two 3x3 convs, a strided 1x1 shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.conv1(x)))
        return self.act(self.short(x) + self.bn2(self.conv2(y)))


class ImageEncoder(nn.Module):
    """(B, 3, 128, 128) in [0, 1] -> (B, latent) vector.

    A strided stem (128 -> 64 px), four stride-2 residual blocks (64 -> 4 px), a 1x1 squeeze and
    one dense layer over the flattened 4 x 4 map (keeps where things are, unlike global pooling).
    """

    def __init__(self, widths: tuple[int, ...] = (24, 32, 64, 96, 128), latent: int = 128) -> None:
        super().__init__()
        if len(widths) != 5 or min(widths) < 1:
            raise ConfigError(f"ImageEncoder needs 5 positive widths, got {widths}")
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False)
        layers: list[nn.Module] = [
            nn.Conv2d(3, widths[0], 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        layers += [ResBlock2d(a, b) for a, b in itertools.pairwise(widths)]
        squeeze = max(8, widths[-1] // 2)
        layers += [nn.Conv2d(widths[-1], squeeze, 1, bias=False), nn.BatchNorm2d(squeeze), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(squeeze * 16, latent), nn.ReLU(inplace=True))
        self.latent = latent

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE) or x.shape[1] != 3:
            raise ConfigError(
                f"expected (B, 3, {IMAGE_SIZE}, {IMAGE_SIZE}) images, got {tuple(x.shape)}"
            )
        return self.fc(self.body(x - self.mean))


# --------------------------------------------------------------------------- heads


def _up3d(cin: int, cout: int) -> nn.Sequential:
    """A 3D transposed conv doubling the grid side (k4 s2 p1: no checkerboard overlap gaps)."""
    return nn.Sequential(
        nn.ConvTranspose3d(cin, cout, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
    )


def voxel_shuffle(y: torch.Tensor, channels: int) -> torch.Tensor:
    """(B, channels * 8, n, n, n) -> (B, channels, 2n, 2n, 2n): each cell's 8 features become its
    2 x 2 x 2 children (the 3D pixel shuffle of Shi et al. 2016; channel ``8 c + 4 dx + 2 dy + dz``)."""
    b, n = y.shape[0], y.shape[-1]
    y = y.view(b, channels, 2, 2, 2, n, n, n).permute(0, 1, 5, 2, 6, 3, 7, 4)
    return y.reshape(b, channels, 2 * n, 2 * n, 2 * n)


class VoxelHead(nn.Module):
    """(B, latent) -> occupancy and confidence logits, each (B, 32, 32, 32).

    A dense layer makes a 4³ seed, transposed convs grow it to 8³ (with one residual 3³ conv
    there) and 16³, and a 3³ conv gives every 16³ cell the logits of its 2³ children (voxel
    shuffle): five times cheaper to train on a CPU than a third transposed conv to 32³, where
    the activations of the backward pass dominate.
    """

    def __init__(self, latent: int = 128, widths: tuple[int, int, int] = (32, 48, 32)) -> None:
        super().__init__()
        if len(widths) != 3 or min(widths) < 1:
            raise ConfigError(f"VoxelHead needs 3 positive widths, got {widths}")
        w0, w1, w2 = widths
        self.w0 = w0
        self.seed = nn.Sequential(nn.Linear(latent, w0 * 64), nn.ReLU(inplace=True))
        self.up1 = _up3d(w0, w1)  # 4 -> 8
        self.mix = nn.Sequential(nn.Conv3d(w1, w1, 3, padding=1, bias=False), nn.BatchNorm3d(w1))
        self.up2 = _up3d(w1, w2)  # 8 -> 16
        self.out = nn.Conv3d(w2, 2 * 8, 3, padding=1)  # 16 -> 32 by voxel shuffle
        with torch.no_grad():  # start near the typical occupancy (about 10 %) and 50 % confidence
            self.out.bias.copy_(torch.tensor([-2.0] * 8 + [0.0] * 8))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.seed(z).view(-1, self.w0, 4, 4, 4)
        y = self.up1(y)
        y = torch.relu(y + self.mix(y))
        y = voxel_shuffle(self.out(self.up2(y)), 2)
        return y[:, 0], y[:, 1]


class PointHead(nn.Module):
    """(B, latent) -> (B, N, 3) points in the unit cube (tanh keeps them inside ±0.5)."""

    def __init__(self, latent: int = 128, num_points: int = 1024, hidden: int = 256) -> None:
        super().__init__()
        self.num_points = num_points
        self.mlp = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_points * 3)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.tanh(self.mlp(z).view(-1, self.num_points, 3))


class MeshHead(nn.Module):
    """(B, latent) -> (B, 642, 3) vertices of the level-3 icosphere deformed by predicted offsets.

    The template is a sphere of radius 0.3 (cube units); offsets start at zero, so an untrained
    head returns the sphere and the regularisers see a well-shaped mesh from the first step.
    """

    def __init__(self, latent: int = 128, level: int = ICO_LEVEL, hidden: int = 256) -> None:
        super().__init__()
        verts, faces = icosphere(level)
        self.register_buffer("template", torch.from_numpy(verts.copy()) * 0.3, persistent=False)
        self.register_buffer("faces", torch.from_numpy(faces.copy()), persistent=False)
        self.mlp = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, len(verts) * 3)
        )
        with torch.no_grad():
            self.mlp[-1].weight.mul_(0.1)
            self.mlp[-1].bias.zero_()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        offsets = self.mlp(z).view(-1, self.template.shape[0], 3)
        return (self.template + offsets).clamp(-0.5, 0.5)


class AzimuthHead(nn.Module):
    """(B, latent) -> (B, A) logits of the camera azimuth in A equal bins (bin k: k * 360 / A°)."""

    def __init__(self, latent: int = 128, bins: int = 72, hidden: int = 128) -> None:
        super().__init__()
        self.bins = bins
        self.mlp = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, bins)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.mlp(z)


def azimuth_soft_labels(azimuth_deg: torch.Tensor, bins: int, sigma_bins: float) -> torch.Tensor:
    """(B, A) circular Gaussian label distributions centred on the exact azimuths (B,) degrees
    (``sigma_bins`` <= 0: one-hot on the nearest bin). The centre between two bins puts its mass
    on both, so the decoded mean keeps the sub-bin part."""
    pos = torch.remainder(azimuth_deg.float() * bins / 360.0, bins)[:, None]
    k = torch.arange(bins, dtype=torch.float32, device=azimuth_deg.device)[None]
    d = torch.remainder(k - pos + bins / 2, bins) - bins / 2  # circular distance in bins
    if sigma_bins <= 0:
        return torch.nn.functional.one_hot(d.abs().argmin(dim=1), bins).float()
    w = torch.exp(-0.5 * (d / sigma_bins) ** 2)
    return w / w.sum(dim=1, keepdim=True)


def decode_azimuth(logits: torch.Tensor, window: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, A) azimuth logits -> (B,) degrees in [0, 360) and (B,) confidence in (0, 1]
    (:func:`decode_azimuth_probs` of their softmax)."""
    return decode_azimuth_probs(torch.softmax(logits.float(), dim=1), window)


def decode_azimuth_probs(p: torch.Tensor, window: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, A) azimuth bin probabilities -> (B,) degrees in [0, 360) and (B,) confidence.

    The angle is the probability-weighted circular mean over the arg-max bin and its ``window``
    neighbours on each side (sub-bin precision; a wide window would average the two peaks of a
    symmetric object); the confidence is the probability mass in that window.
    """
    bins = p.shape[1]
    top = p.argmax(dim=1, keepdim=True)
    offs = torch.arange(-window, window + 1, device=p.device)[None]
    idx = torch.remainder(top + offs, bins)
    w = p.gather(1, idx)
    ang = idx.float() * (2 * math.pi / bins)
    mean = torch.atan2((w * torch.sin(ang)).sum(1), (w * torch.cos(ang)).sum(1))
    return torch.remainder(torch.rad2deg(mean), 360.0), w.sum(1)


@torch.no_grad()
def object_frame_voxels(
    model: nn.Module, x: torch.Tensor, heads: tuple[str, ...] = ("voxels",), flip: bool = True
) -> tuple[ReconOutput, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run an object-frame network on (B, 3, S, S) images, optionally with flip test-time
    augmentation: the left-right flipped image shows the object mirrored in y (grid axis 1) from
    azimuth ``-a``, so its occupancy and confidence are flipped back on y and its azimuth
    distribution mirrored (bin ``k`` <-> ``-k``) before averaging with the plain pass.

    Returns the plain pass's :class:`ReconOutput` (its point and mesh heads when ``heads`` asks),
    the (B, 32, 32, 32) occupancy probabilities and confidences, and the decoded (B,) azimuths
    (degrees) with their confidences (:func:`decode_azimuth`).
    """
    out = model(x, heads=heads)
    probs, conf = torch.sigmoid(out.voxel_logits), torch.sigmoid(out.confidence_logits)
    az = torch.softmax(out.azimuth_logits.float(), dim=1)
    if flip:
        m = model(x.flip(-1), heads=("voxels",))
        bins = az.shape[1]
        mirror = torch.remainder(-torch.arange(bins, device=az.device), bins)
        probs = 0.5 * (probs + torch.sigmoid(m.voxel_logits).flip(2))
        conf = 0.5 * (conf + torch.sigmoid(m.confidence_logits).flip(2))
        az = 0.5 * (az + torch.softmax(m.azimuth_logits.float(), dim=1)[:, mirror])
    deg, az_conf = decode_azimuth_probs(az)
    return out, probs, conf, deg, az_conf


class ReconNet(nn.Module):
    """Image encoder + voxel, point and mesh heads (see the module docstring for the outputs)."""

    def __init__(
        self,
        encoder_widths: tuple[int, ...] = (24, 32, 64, 96, 128),
        latent: int = 128,
        voxel_widths: tuple[int, int, int] = (32, 48, 32),
        num_points: int = 1024,
        head_hidden: int = 128,
        azimuth_bins: int = 0,
    ) -> None:
        super().__init__()
        if azimuth_bins < 0 or azimuth_bins == 1:
            raise ConfigError(f"azimuth_bins must be 0 (no head) or >= 2, got {azimuth_bins}")
        self.encoder = ImageEncoder(tuple(encoder_widths), latent)
        self.voxels = VoxelHead(latent, tuple(voxel_widths))  # type: ignore[arg-type]
        self.points = PointHead(latent, num_points, head_hidden)
        self.mesh = MeshHead(latent, ICO_LEVEL, head_hidden)
        self.azimuth = AzimuthHead(latent, azimuth_bins, head_hidden) if azimuth_bins else None

    @property
    def mesh_faces(self) -> torch.Tensor:
        """(1280, 3) int64 faces shared by every predicted mesh."""
        return self.mesh.faces

    def forward(
        self, images: torch.Tensor, heads: tuple[str, ...] = ("voxels", "points", "mesh")
    ) -> ReconOutput:
        """Run the heads named in ``heads`` (others come back as empty (B, 0, ...) tensors); the
        azimuth head, when the network has one, always runs (it is one small layer; else None)."""
        z = self.encoder(images)
        b = z.shape[0]
        empty = z.new_zeros((b, 0, 3))
        occ, conf = self.voxels(z) if "voxels" in heads else (z.new_zeros((b, 0, 0, 0)),) * 2
        pts = self.points(z) if "points" in heads else empty
        mesh = self.mesh(z) if "mesh" in heads else empty
        az = self.azimuth(z) if self.azimuth is not None else None
        return ReconOutput(occ, conf, pts, mesh, az)


@register_recon_model("reconnet", description="2D ResNet encoder (64 px inside), voxel/point/mesh heads")
def reconnet(
    encoder_widths: tuple[int, ...] | list[int] = (24, 32, 64, 96, 128),
    latent: int = 128,
    voxel_widths: tuple[int, int, int] | list[int] = (32, 48, 32),
    num_points: int = 1024,
    head_hidden: int = 128,
    azimuth_bins: int = 0,
) -> nn.Module:
    return ReconNet(tuple(encoder_widths), latent, tuple(voxel_widths), num_points, head_hidden,  # type: ignore[arg-type]
                    azimuth_bins)  # fmt: skip


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """(B, S, S, 3) or (B, S, S) uint8 -> (B, 3, S, S) float32 in [0, 1] (grey copied to RGB)."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    if x.ndim == 3:
        x = x[..., None].expand(*x.shape, 3)
    return x.permute(0, 3, 1, 2).float().div_(255.0).contiguous()
