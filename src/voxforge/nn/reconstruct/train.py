"""Train the image/sketch -> 3D networks on a render set (``voxforge.nn.reconstruct.renderset``).

One step: a batch of views (renders, or their sketches for ``kind: sketch``), augmented (colour
jitter, grey, a small shift and scale, a horizontal flip that mirrors the target's y axis, since
screen right is +y of the viewer-centred target), their 32³ targets and surface points sampled
from them; the loss is occupancy BCE + Dice, the confidence BCE, Chamfer-L2 of the point head and
of the mesh vertices, and the mesh regularisers (weights in the config).

``frame`` chooses the targets: ``view`` (viewer-centred in yaw, ``renderset.view_target``) or
``object`` (the object's own padded grid for every view, plus a cross-entropy on the camera
azimuth for the network's azimuth head, ``model_args.azimuth_bins``). A flipped image is the
object mirrored in y (the grid flipped on axis 1) seen from azimuth ``-a``: checked against
renders in ``tests/nn/reconstruct/test_train.py``. Validation IoU is always measured in the view's yaw
frame (object-frame predictions turned by their predicted azimuth), so both frames compare.

A run lives in ``<output_dir>/<name>/`` like a classifier run (:mod:`voxforge.nn.classify.train`):
``config.yaml``, ``metrics.csv``, ``last.pt`` and ``best.pt``, chosen on the VALIDATION objects'
single-view mean IoU (the best of the thresholds 0.3/0.4/0.5, recorded with it). Epochs are
``samples_per_epoch`` random training views so a CPU run validates and checkpoints often; a
``max_minutes`` budget ends a run early (the schedule is planned for ``epochs``).
Everything is seeded: each epoch's views and augmentation draw from ``(seed, epoch)``.
Under ``torchrun`` (``voxforge train reconstruction --procs-per-node M``) every process draws the
same global batch, trains on its share (:func:`voxforge.nn.training.shard`) and the gradients are
averaged; the time budget is the slowest process's, so all stop together; rank 0 writes the run
and fits the surface heads.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from torch import nn
from torch.nn import functional as F

from voxforge.core.config import dump_config, load_config
from voxforge.core.errors import ConfigError
from voxforge.core.progress import ProgressCallback, null_progress
from voxforge.nn.metrics import dice as dice_score
from voxforge.nn.metrics import iou
from voxforge.nn.reconstruct.losses import (
    azimuth_loss,
    chamfer_distance,
    confidence_loss,
    edge_length_loss,
    laplacian_loss,
    normal_consistency_loss,
    occupancy_loss,
)
from voxforge.nn.reconstruct.models import RECON_MODELS, VOXELS, create_recon_model, images_to_tensor
from voxforge.nn.training import (
    Dist,
    all_max,
    all_sum,
    append_csv,
    check_global_batch,
    distributed,
    lr_factor,
    resume_checkpoint,
    save_checkpoint,
    setup_torch,
    shard,
    unwrap,
    wrap_model,
)
from voxforge.nn.weights import read_safetensors

log = logging.getLogger(__name__)

THRESHOLDS = (0.3, 0.4, 0.5)
"""Occupancy thresholds at which validation IoU is measured."""


class ReconDataConfig(BaseModel):
    """Which render set and how much of it."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field("runs/renderset", description="Render set folder (index.json, shards).")
    val_views: int = Field(
        1, ge=1, le=64, description="Views per validation object scored every epoch (first ones)."
    )
    limit_objects: int | None = Field(
        None, ge=1, description="Use only the first N objects of each split (smoke tests)."
    )


class ReconAugmentConfig(BaseModel):
    """Training augmentation, chosen for robustness to cut-out photos and hand drawings."""

    model_config = ConfigDict(extra="forbid")

    brightness: float = Field(0.2, ge=0.0, le=1.0, description="Gain in 1 ± this.")
    contrast: float = Field(0.2, ge=0.0, le=1.0, description="Contrast about the mean in 1 ± this.")
    saturation: float = Field(0.3, ge=0.0, le=1.0, description="Saturation in 1 ± this.")
    grey: float = Field(0.1, ge=0.0, le=1.0, description="Share of views turned grey.")
    shift: float = Field(0.06, ge=0.0, le=0.3, description="Largest shift, fraction of the side.")
    scale: float = Field(0.08, ge=0.0, le=0.5, description="Scale in 1 ± this.")
    flip: bool = Field(True, description="Horizontal flip (mirrors the target's y axis).")


class LossConfig(BaseModel):
    """Weights of the loss terms (see :mod:`voxforge.nn.reconstruct.losses`)."""

    model_config = ConfigDict(extra="forbid")

    dice: float = Field(1.0, ge=0.0)
    pos_weight: float = Field(1.0, gt=0.0, description="BCE weight of filled voxels.")
    confidence: float = Field(0.1, ge=0.0)
    points: float = Field(20.0, ge=0.0, description="Chamfer-L2 of the point head (cube units²).")
    mesh: float = Field(20.0, ge=0.0, description="Chamfer-L2 of the mesh vertices.")
    laplacian: float = Field(20.0, ge=0.0)
    edge: float = Field(1.0, ge=0.0)
    normal: float = Field(0.1, ge=0.0)
    num_target_points: int = Field(512, ge=16, le=8192)
    azimuth: float = Field(0.5, ge=0.0, description="Azimuth cross-entropy (object frame only).")
    azimuth_sigma: float = Field(
        1.0, ge=0.0, le=10.0, description="Circular Gaussian label smoothing, in bins (0: one-hot)."
    )


class ReconTrainConfig(BaseModel):
    """A reconstruction training run; loaded from ``configs/reconstruction/*.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="Run name.")
    kind: Literal["image", "sketch"] = Field("image", description="Train on renders or sketches.")
    frame: Literal["view", "object"] = Field(
        "view", description="Voxel targets in the view's yaw frame or the object's (+ azimuth head)."
    )
    model: str = Field("reconnet", description="Registered reconstruction network.")
    model_args: dict[str, Any] = Field(default_factory=dict)
    init_from: str | None = Field(
        None, description="Start from these weights (a run's best.pt or a shipped .safetensors)."
    )
    data: ReconDataConfig = Field(default_factory=ReconDataConfig)
    augment: ReconAugmentConfig = Field(default_factory=ReconAugmentConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    epochs: int = Field(20, ge=1, le=10_000)
    samples_per_epoch: int = Field(4096, ge=2, description="Random training views per epoch.")
    batch_size: int = Field(32, ge=2, le=4096)
    lr: float = Field(2e-3, gt=0.0, le=1.0, description="Peak AdamW learning rate.")
    weight_decay: float = Field(1e-4, ge=0.0, le=1.0)
    warmup_epochs: float = Field(0.5, ge=0.0)
    min_lr_ratio: float = Field(0.02, ge=0.0, le=1.0)
    grad_clip: float = Field(2.0, gt=0.0)
    max_minutes: float | None = Field(None, gt=0.0, description="Stop after this wall time.")
    time_schedule: bool = Field(
        False,
        description="Plan warm-up and cosine decay over max_minutes of wall time instead of the "
        "epochs (for shared CPUs whose speed is unknown; not bit-reproducible).",
    )
    seed: int = Field(0, ge=0)
    num_threads: int = Field(2, ge=1, le=256)
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "cpu", description="auto (CUDA, then Apple's MPS, then the CPU), cpu, cuda or mps."
    )
    output_dir: str = Field("runs/reconstruction", description="Runs go to <output_dir>/<name>/.")
    surface_views: int = Field(3000, ge=2, description="Views whose latents fit the surface heads.")
    surface_epochs: int = Field(6, ge=0, description="Epochs of the surface heads (0: skip).")
    surface_lr: float = Field(2e-3, gt=0.0, le=1.0)
    joint_surfaces: bool = Field(
        False, description="Also train the point/mesh heads in every image step (costly on CPU)."
    )

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        RECON_MODELS[v]  # raises ConfigError listing close matches
        return v

    @model_validator(mode="after")
    def _check(self) -> ReconTrainConfig:
        if self.time_schedule and self.max_minutes is None:
            raise ValueError("time_schedule needs max_minutes")
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs {self.warmup_epochs} must be below epochs {self.epochs}")
        if self.frame == "object" and int(self.model_args.get("azimuth_bins", 0)) < 2:
            raise ValueError(
                "frame 'object' needs an azimuth head: set model_args.azimuth_bins (e.g. 72)"
            )
        return self

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name


def load_recon_config(path: str | Path, overrides: dict[str, Any] | None = None) -> ReconTrainConfig:
    """Read a reconstruction training YAML (unknown keys and impossible values: ConfigError)."""
    return load_config(ReconTrainConfig, path, overrides)


# --------------------------------------------------------------------------- batches


def surface_points(targets: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """(B, n, 3) points on the surface cells of (B, 32, 32, 32) 0/1 grids, unit-cube coordinates.

    Surface cells are filled cells with an empty 6-neighbour; each point is a uniform sample
    inside a surface cell drawn with replacement (an empty grid: uniform in the whole grid).
    """
    occ = targets.float()[:, None]
    inner = -F.max_pool3d(-occ, 3, stride=1, padding=1)  # erosion (cube neighbourhood)
    surf = (occ - inner).clamp_min(0).flatten(1)
    surf = torch.where(surf.sum(1, keepdim=True) > 0, surf, occ.flatten(1) + 1e-6)
    idx = torch.multinomial(surf, n, replacement=True, generator=generator)
    s = targets.shape[-1]
    ijk = torch.stack([idx // (s * s), (idx // s) % s, idx % s], dim=-1).float()
    jitter = torch.rand(ijk.shape, generator=generator)
    return (ijk + jitter) / s - 0.5


def augment_images(x: torch.Tensor, cfg: ReconAugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Colour jitter, grey, shift and scale of (B, 3, S, S) images in [0, 1] (flip is separate:
    it changes the target). Pixels moved in from outside copy the border (the background)."""
    b = x.shape[0]

    def u(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=g) * 2 - 1

    grey = x.mean(1, keepdim=True)
    sat = 1 + cfg.saturation * u(b, 1, 1, 1)
    x = grey + (x - grey) * sat
    to_grey = torch.rand(b, 1, 1, 1, generator=g) < cfg.grey
    x = torch.where(to_grey, x.mean(1, keepdim=True).expand_as(x), x)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = mean + (x - mean) * (1 + cfg.contrast * u(b, 1, 1, 1))
    x = (x * (1 + cfg.brightness * u(b, 1, 1, 1))).clamp(0, 1)
    if cfg.shift > 0 or cfg.scale > 0:
        scale = 1 + cfg.scale * u(b)
        theta = torch.zeros(b, 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1 / scale
        theta[:, :, 2] = 2 * cfg.shift * u(b, 2)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return x


def frame_targets(rs: Any, idx: np.ndarray, frame: str) -> np.ndarray:
    """(B, 32, 32, 32) bool targets of views ``idx``: viewer-centred (``frame == "view"``) or the
    objects' own grids (``"object"``, the same for every view of an object)."""
    if frame == "object":
        return rs.grids[rs.object_row[np.asarray(idx, dtype=np.int64).reshape(-1)]]
    return rs.targets(idx)


@dataclass
class Batch:
    """Model inputs (B, 3, S, S) float, targets (B, 32, 32, 32) float, (B, P, 3) points and the
    (B,) camera azimuths in degrees (negated for flipped views)."""

    images: torch.Tensor
    targets: torch.Tensor
    points: torch.Tensor
    azimuth: torch.Tensor | None = None


def make_batch(
    rs: Any, idx: np.ndarray, config: ReconTrainConfig, g: torch.Generator | None, train: bool
) -> Batch:
    """The batch of views ``idx`` of a :class:`~voxforge.nn.reconstruct.renderset.RenderSet`
    (augmented when ``train``; ``g`` seeds augmentation and point sampling)."""
    g = g or torch.Generator().manual_seed(config.seed)
    pixels = rs.sketches[idx] if config.kind == "sketch" else rs.images[idx]
    x = images_to_tensor(pixels)
    t = torch.from_numpy(frame_targets(rs, idx, config.frame)).float()
    az = torch.from_numpy(np.asarray(rs.azimuth[idx], np.float32))
    if train:
        x = augment_images(x, config.augment, g)
        if config.augment.flip:  # screen right is +y of the view frame: mirror y, azimuth -> -a
            flip = torch.rand(len(idx), generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            t = torch.where(flip[:, None, None, None], t.flip(2), t)
            az = torch.where(flip, torch.remainder(-az, 360.0), az)
    pts = surface_points(t, config.loss.num_target_points, g)
    dev = config.device
    return Batch(x.to(dev), t.to(dev), pts.to(dev), az.to(dev))


def surface_loss(
    model: nn.Module, points: torch.Tensor, mesh: torch.Tensor, target: torch.Tensor, cfg: LossConfig
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted Chamfer-L2 of the point and mesh heads against ``target`` surface points, plus the
    mesh regularisers; returns the total and the unweighted terms."""
    faces = unwrap(model).mesh_faces
    terms = {
        "pts": chamfer_distance(points, target)[0],
        "mesh": chamfer_distance(mesh, target)[0],
        "lap": laplacian_loss(mesh, faces),
        "edge": edge_length_loss(mesh, faces),
        "normal": normal_consistency_loss(mesh, faces),
    }
    w = {"pts": cfg.points, "mesh": cfg.mesh, "lap": cfg.laplacian, "edge": cfg.edge,
         "normal": cfg.normal}  # fmt: skip
    return sum(w[k] * v for k, v in terms.items()), terms  # type: ignore[return-value]


def batch_loss(
    model: nn.Module, batch: Batch, cfg: LossConfig, surfaces: bool = False
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss of one batch and its terms (floats, for the metrics CSV).

    Occupancy (BCE + Dice) and confidence always; the azimuth cross-entropy when the network has
    an azimuth head (object frame); the point and mesh heads only when ``surfaces`` (the CPU
    recipe fits them afterwards on frozen latents, :func:`fit_surface_heads`).
    """
    heads = ("voxels", "points", "mesh") if surfaces else ("voxels",)
    out = model(batch.images, heads=heads)
    terms = {
        "occ": occupancy_loss(out.voxel_logits, batch.targets, cfg.dice, cfg.pos_weight),
        "conf": confidence_loss(out.confidence_logits, out.voxel_logits, batch.targets),
    }
    total = terms["occ"] + cfg.confidence * terms["conf"]
    az = out.azimuth_logits
    if az is not None and az.shape[-1] > 0 and batch.azimuth is not None:
        terms["az"] = azimuth_loss(az, batch.azimuth, cfg.azimuth_sigma)
        total = total + cfg.azimuth * terms["az"]
    if surfaces:
        extra, more = surface_loss(model, out.points, out.mesh_vertices, batch.points, cfg)
        total, terms = total + extra, {**terms, **more}
    return total, {k: float(v.detach()) for k, v in terms.items()}


@torch.no_grad()
def encode_views(
    model: nn.Module, rs: Any, idx: np.ndarray, kind: str, batch_size: int = 64, device: str = "cpu"
) -> torch.Tensor:
    """(N, latent) float32 encoder outputs of views ``idx`` (eval mode, no augmentation)."""
    model.eval()
    out = []
    for s in range(0, len(idx), batch_size):
        part = idx[s : s + batch_size]
        pixels = rs.sketches[part] if kind == "sketch" else rs.images[part]
        out.append(model.encoder(images_to_tensor(pixels).to(device)))
    return torch.cat(out)


def fit_surface_heads(
    model: nn.Module,
    rs: Any,
    config: ReconTrainConfig,
    progress: ProgressCallback | None = None,
) -> dict[str, float]:
    """Fit the point and mesh heads on frozen encoder latents of ``config.surface_views`` views.

    The heads are small dense layers on the latent, so once the encoder is trained (by the
    occupancy loss) they need no image passes: latents and target points are computed once and
    the heads train ``config.surface_epochs`` epochs on them, a few CPU minutes instead of a
    Chamfer term in every image step. Returns the last epoch's mean loss terms (``surf_*``).
    """
    report = progress or null_progress
    rng = np.random.default_rng([config.seed, 7])
    n = min(config.surface_views, len(rs))
    idx = np.sort(rng.choice(len(rs), size=n, replace=False))
    g = torch.Generator().manual_seed(config.seed + 7)
    z = encode_views(model, rs, idx, config.kind, device=config.device)
    target = torch.cat([
        surface_points(torch.from_numpy(frame_targets(rs, idx[s : s + 256], config.frame)),
                       config.loss.num_target_points, g)
        for s in range(0, n, 256)
    ]).to(config.device)  # fmt: skip
    params = [*model.points.parameters(), *model.mesh.parameters()]
    opt = torch.optim.Adam(params, lr=config.surface_lr)
    model.train()
    bs, sums = config.batch_size * 2, {}
    steps = max(1, n // bs) * config.surface_epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps, 0, 0.05))
    for epoch in range(config.surface_epochs):
        order = torch.randperm(n, generator=g)
        sums = {}
        for b in range(max(1, n // bs)):
            part = order[b * bs : (b + 1) * bs]
            loss, terms = surface_loss(model, model.points(z[part]), model.mesh(z[part]), target[part],
                                       config.loss)  # fmt: skip
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) / max(1, n // bs)
        report("surface heads", (epoch + 1) / config.surface_epochs)
    model.eval()
    return {f"surf_{k}": v for k, v in sums.items()}


# --------------------------------------------------------------------------- metrics


@torch.no_grad()
def predict_views_azimuth(
    model: nn.Module,
    rs: Any,
    idx: np.ndarray,
    kind: str,
    batch_size: int = 64,
    device: str = "cpu",
    flip_tta: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(N, 32, 32, 32) float32 occupancy probabilities and confidences of views ``idx`` (in the
    network's frame) and (N,) predicted camera azimuths (degrees) with their confidences (both
    empty (0,) arrays for a network without an azimuth head). ``flip_tta``: object-frame networks
    also see the flipped image (:func:`~voxforge.nn.reconstruct.models.object_frame_voxels`)."""
    from voxforge.nn.reconstruct.models import decode_azimuth, object_frame_voxels

    model.eval()
    probs, confs, azs, az_confs = [], [], [], []
    for s in range(0, len(idx), batch_size):
        part = idx[s : s + batch_size]
        pixels = rs.sketches[part] if kind == "sketch" else rs.images[part]
        x = images_to_tensor(pixels).to(device)
        if flip_tta and getattr(model, "azimuth", None) is not None:
            _, p, c, a, ac = object_frame_voxels(model, x)
            for dst, t in ((probs, p), (confs, c), (azs, a), (az_confs, ac)):
                dst.append(t.cpu().numpy())
            continue
        out = model(x, heads=("voxels",))
        probs.append(torch.sigmoid(out.voxel_logits).cpu().numpy())
        confs.append(torch.sigmoid(out.confidence_logits).cpu().numpy())
        logits = getattr(out, "azimuth_logits", None)
        if logits is not None and logits.shape[-1] > 0:
            a, c = decode_azimuth(logits)
            azs.append(a.cpu().numpy())
            az_confs.append(c.cpu().numpy())

    def cat(parts: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(shape, np.float32)

    grid = (0, VOXELS, VOXELS, VOXELS)
    return cat(probs, grid), cat(confs, grid), cat(azs, (0,)), cat(az_confs, (0,))


def azimuth_metrics(predicted: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Share of views whose predicted azimuth is within 15° of the true one (``az_acc15``), the
    same modulo 180° (``az_acc15_mod180``: symmetric front/back confusions forgiven) and the
    median error in degrees."""
    err = np.abs(np.mod(np.asarray(predicted, np.float64) - true + 180.0, 360.0) - 180.0)
    return {"az_acc15": float((err <= 15).mean()),
            "az_acc15_mod180": float((np.minimum(err, 180.0 - err) <= 15).mean()),
            "az_median_err": float(np.median(err))}  # fmt: skip


def validation_views(rs: Any, per_object: int) -> np.ndarray:
    """(M,) int64 indices of the first ``per_object`` views of every object, in object order."""
    order = np.lexsort((np.arange(len(rs)), rs.object_index))
    obj = rs.object_index[order]
    first = np.r_[0, np.flatnonzero(obj[1:] != obj[:-1]) + 1]
    rank = np.arange(len(obj)) - np.repeat(first, np.diff(np.r_[first, len(obj)]))
    return np.sort(order[rank < per_object])


def validate(model: nn.Module, rs: Any, idx: np.ndarray, config: ReconTrainConfig) -> dict[str, float]:
    """Single-view mean IoU of views ``idx`` at each threshold of :data:`THRESHOLDS`, in the
    view's yaw frame. Object frame: also the object-frame IoU at 0.4 (``iou_obj``) and the
    azimuth accuracy (:func:`azimuth_metrics`)."""
    from voxforge.nn.reconstruct.inference import to_view_frame

    probs, _, az, _ = predict_views_azimuth(model, rs, idx, config.kind, device=config.device)
    extra: dict[str, float] = {}
    if config.frame == "object":
        extra["iou_obj"] = float(iou(probs, frame_targets(rs, idx, "object"), 0.4).mean())
        extra.update(azimuth_metrics(az, rs.azimuth[idx]))
        probs = to_view_frame(probs, az)
    targets = rs.targets(idx)
    return {f"iou_{t}": float(iou(probs, targets, t).mean()) for t in THRESHOLDS} | extra


# --------------------------------------------------------------------------- run


@dataclass
class ReconTrainResult:
    """What a run produced: its folder, best epoch, its metrics and threshold, the wall time."""

    run_dir: Path
    best_epoch: int
    best: dict[str, float]
    threshold: float
    epochs_run: int
    seconds: float


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load a run checkpoint (``.pt``) or shipped ``.safetensors`` into ``model`` (fine-tuning).

    Weights of heads the source lacks (an azimuth head added to a view-frame network) keep their
    fresh initialisation; any other missing or unexpected key is an error."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"init_from {p}: no such file")
    if p.suffix == ".safetensors":
        state = read_safetensors(p)
    else:
        state = torch.load(p, map_location="cpu", weights_only=False)["model"]
    new_heads = ("azimuth.",)
    missing = [k for k in model.state_dict() if k not in state and k.startswith(new_heads)]
    try:
        result = model.load_state_dict(state, strict=False)
        bad = [k for k in result.missing_keys if k not in missing] + list(result.unexpected_keys)
        if bad:
            raise RuntimeError(f"missing or unexpected keys: {', '.join(bad[:5])}")
    except RuntimeError as err:
        raise ConfigError(f"init_from {p}: weights do not fit ({str(err).splitlines()[0]})") from None
    if missing:
        log.info("init_from %s: %d new head tensors start fresh (%s)", p, len(missing), missing[0])


def train_reconstruction(
    config: ReconTrainConfig, *, resume: bool = False, progress: ProgressCallback | None = None
) -> ReconTrainResult:
    """Train ``config.model`` on the render set ``config.data.path``.

    Args:
        resume: continue from ``<run_dir>/last.pt`` instead of starting over.
        progress: ``callback(stage, fraction)``; stage is ``"epoch i/n"``.

    Raises:
        ConfigError: CUDA requested but absent, ``resume`` without a checkpoint, bad ``init_from``.
        InputFormatError: the render set is missing or unfinished.
    """
    from voxforge.nn.device import resolve_device

    config = config.model_copy(update={"device": resolve_device(config.device)})
    with distributed(config.device) as dist:
        return _train(config, resume, progress, dist)


def _train(
    config: ReconTrainConfig, resume: bool, progress: ProgressCallback | None, dist: Dist
) -> ReconTrainResult:
    from voxforge.nn.reconstruct.renderset import load_render_set

    per_process = check_global_batch(config.batch_size, dist)
    setup_torch(config.device, config.num_threads, config.seed)
    run = config.run_dir
    if dist.main:
        run.mkdir(parents=True, exist_ok=True)
    train_set = _limit(load_render_set(config.data.path, "train"), config.data.limit_objects)
    val_set = _limit(load_render_set(config.data.path, "val"), config.data.limit_objects)
    val_idx = validation_views(val_set, config.data.val_views)
    model = create_recon_model(config.model, **config.model_args).to(config.device)
    if config.init_from and not resume:
        load_weights(model, config.init_from)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    per_epoch = max(1, config.samples_per_epoch // config.batch_size)
    total, warm = per_epoch * config.epochs, round(per_epoch * config.warmup_epochs)
    clock = _Clock(time.perf_counter(), 60.0 * (config.max_minutes or math.inf))

    def factor(step: int) -> float:
        if config.time_schedule:  # thousandths of the time budget as steps, 2 % warm-up
            return lr_factor(round(1000 * clock.fraction()), 1000, 20, config.min_lr_ratio)
        return lr_factor(step, total, warm, config.min_lr_ratio)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    state: dict[str, Any] = {"epoch": 0, "best_iou": -1.0, "best_epoch": 0, "best": {},
                             "threshold": 0.4, "seconds": 0.0}  # fmt: skip
    if resume:
        resume_checkpoint(run, config.device, model, optimizer, scheduler, state)
    # the heads a step leaves out (surfaces fitted afterwards) get no gradient: DDP must know
    trained = wrap_model(model, dist, config.device, find_unused_parameters=True)
    if dist.main:
        (run / "config.yaml").write_text(dump_config(config), encoding="utf-8")
    meta = {"arch": config.model, "arch_args": model.arch_args, "kind": config.kind,
            "frame": config.frame, "classes": train_set.classes,
            "world_size": dist.world_size, "per_process_batch": per_process}  # fmt: skip
    report = (progress or null_progress) if dist.main else null_progress
    t0 = time.perf_counter() - float(state["seconds"])
    clock.start = t0
    for epoch in range(int(state["epoch"]) + 1, config.epochs + 1):
        te = time.perf_counter()
        stage = f"epoch {epoch}/{config.epochs}"
        tr = train_one_epoch(trained, train_set, optimizer, scheduler, config, epoch,
                             lambda _s, f, stage=stage: report(stage, f), clock, dist)  # fmt: skip
        va = validate(model, val_set, val_idx, config)
        thr, iou = max(((t, va[f"iou_{t}"]) for t in THRESHOLDS), key=lambda p: p[1])
        row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], **tr, **va,
               "seconds": time.perf_counter() - te}  # fmt: skip
        if dist.main:
            append_csv(run / "metrics.csv", row)
        log.info("epoch %d: %s", epoch, {k: round(v, 4) for k, v in row.items()})
        state.update(epoch=epoch, seconds=time.perf_counter() - t0)
        if iou > state["best_iou"]:
            state.update(best_iou=iou, best_epoch=epoch, best=row, threshold=thr)
            if dist.main:
                save_checkpoint(run / "best.pt", model, optimizer, scheduler, state, meta, epoch)
        if dist.main:
            save_checkpoint(run / "last.pt", model, optimizer, scheduler, state, meta, epoch)
        clock.sync(dist)
        if clock.fraction() >= 1.0:
            log.info("time budget of %.1f min reached after epoch %d", config.max_minutes, epoch)
            break
    surfaces = config.surface_epochs > 0 and not config.joint_surfaces
    if dist.main and surfaces and (run / "best.pt").is_file():
        best = torch.load(run / "best.pt", map_location=config.device, weights_only=False)
        model.load_state_dict(best["model"])
        surf = fit_surface_heads(model, train_set, config, progress=report)
        best["state"]["best"] = {**best["state"]["best"], **surf}
        state["best"] = best["state"]["best"]
        save_checkpoint(
            run / "best.pt", model, optimizer, scheduler, best["state"], meta, int(best["epoch"])
        )
        log.info("surface heads: %s", {k: round(v, 5) for k, v in surf.items()})
    return ReconTrainResult(run, int(state["best_epoch"]), dict(state["best"]),
                            float(state["threshold"]), int(state["epoch"]),
                            time.perf_counter() - t0)  # fmt: skip


def train_one_epoch(
    model: nn.Module,
    rs: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config: ReconTrainConfig,
    epoch: int,
    progress: ProgressCallback | None = None,
    clock: _Clock | None = None,
    dist: Dist | None = None,
) -> dict[str, float]:
    """``samples_per_epoch`` random training views in batches; mean loss terms (``train_*``).
    Ends early when ``clock`` says the run's time budget is spent.

    With ``dist``, every process builds the same global batch (same views, augmentation and
    surface points) and trains on its share; the loss terms are averaged over the processes.
    """
    dist = dist or Dist()
    model.train()
    rng = np.random.default_rng([config.seed, epoch])
    g = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    torch.manual_seed(config.seed * 100_003 + epoch)
    report = progress or null_progress
    n_batches = max(1, config.samples_per_epoch // config.batch_size)
    sums: dict[str, float] = {}
    for b in range(n_batches):
        idx = np.sort(rng.choice(len(rs), size=min(config.batch_size, len(rs)), replace=False))
        batch = make_batch(rs, idx, config, g, train=True)
        if dist.enabled:
            part = torch.from_numpy(shard(np.arange(len(idx)), dist)).to(batch.images.device)
            batch = Batch(batch.images[part], batch.targets[part], batch.points[part],
                          None if batch.azimuth is None else batch.azimuth[part])  # fmt: skip
        if clock is not None:
            clock.sync(dist)  # the schedule and the budget: one time for every process
        loss, terms = batch_loss(model, batch, config.loss, config.joint_surfaces)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        terms["loss"] = float(loss.detach())
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v
        report("train", (b + 1) / n_batches)
        if not math.isfinite(terms["loss"]):
            raise ConfigError(f"training diverged at epoch {epoch} (loss {terms['loss']}); lower lr")
        if clock is not None and clock.fraction() >= 1.0:
            n_batches = b + 1
            break
    if dist.enabled:
        keys = sorted(sums)
        sums = dict(zip(keys, all_sum([sums[k] for k in keys], dist, config.device), strict=True))
        sums = {k: v / dist.world_size for k, v in sums.items()}
    return {f"train_{k}": v / n_batches for k, v in sums.items()}


@dataclass
class _Clock:
    """Wall time of a run against its budget (``budget`` seconds; infinite when unlimited)."""

    start: float
    budget: float
    agreed: float | None = None

    def fraction(self) -> float:
        """The budget spent; in a distributed run the value :meth:`sync` last agreed on."""
        if self.agreed is not None:
            return self.agreed
        return (time.perf_counter() - self.start) / self.budget

    def sync(self, dist: Dist) -> None:
        """Agree on the largest fraction over the processes (no-op when not distributed)."""
        if dist.enabled:
            self.agreed = None
            self.agreed = all_max(self.fraction(), dist)


def _limit(rs: Any, n_objects: int | None) -> Any:
    """The views of the first ``n_objects`` objects of a render set (all when None)."""
    if n_objects is None or n_objects >= len(rs.objects):
        return rs
    from dataclasses import replace

    keep = rs.object_row < n_objects
    fields = ("images", "sketches", "masks", "azimuth", "elevation", "cameras", "labels",
              "object_index", "object_row")  # fmt: skip
    views = {k: getattr(rs, k)[keep] for k in fields}
    return replace(rs, **views, objects=rs.objects[:n_objects], grids=rs.grids[:n_objects])


# ------------------------------------------------------------------- validation report and shipping


def fused_views(rs: Any, per_object: int) -> list[np.ndarray]:
    """Per object with at least ``per_object`` views, the indices of its first ``per_object``."""
    idx = validation_views(rs, per_object)
    obj = rs.object_index[idx]
    groups = np.split(idx, np.flatnonzero(obj[1:] != obj[:-1]) + 1)
    return [gr for gr in groups if len(gr) == per_object]


def validation_report(
    model: nn.Module,
    rs: Any,
    kind: str,
    *,
    threshold: float,
    fuse: int = 5,
    device: str = "cpu",
    progress: ProgressCallback | None = None,
    frame: str = "view",
    flip_tta: bool = False,
) -> dict[str, Any]:
    """Single-view and ``fuse``-view IoU of a network on every view of a render-set split.

    Single view: mean IoU at each of :data:`THRESHOLDS`, Dice at ``threshold`` and mean IoU per
    class, in the view's yaw frame. Fused: the first ``fuse`` views of each object through
    :func:`voxforge.nn.reconstruct.inference.fuse_occupancy` (``frame="view"``) or
    :func:`~voxforge.nn.reconstruct.inference.fuse_canonical` with the true relative azimuths
    (``frame="object"``; also without them, ``fused_<fuse>_views_no_azimuths``), scored against
    the first view's target. Object frame: also the azimuth accuracy (:func:`azimuth_metrics`);
    ``flip_tta`` as :class:`~voxforge.nn.reconstruct.inference.Reconstructor` does (flip test-time
    augmentation of object-frame networks).
    """
    from voxforge.nn.reconstruct.inference import fuse_canonical, fuse_occupancy, to_view_frame

    report = progress or null_progress
    idx = np.arange(len(rs))
    probs = np.empty((len(rs), VOXELS, VOXELS, VOXELS), np.float16)
    confs = np.empty_like(probs)
    az, az_conf = np.zeros(len(rs)), np.zeros(len(rs))
    ious = {t: np.empty(len(rs)) for t in THRESHOLDS}
    dice = np.empty(len(rs))
    for s in range(0, len(rs), 256):
        part = idx[s : s + 256]
        p, c, a, ac = predict_views_azimuth(model, rs, part, kind, device=device, flip_tta=flip_tta)
        probs[part], confs[part] = p, c
        if frame == "object":
            az[part], az_conf[part] = a, ac
            p = to_view_frame(p, a)
        t = rs.targets(part)
        for th in THRESHOLDS:
            ious[th][part] = iou(p, t, th)
        dice[part] = dice_score(p, t, threshold)
        report("validate", min(1.0, (s + 256) / len(rs)) * 0.8)
    per_class = {
        name: round(float(ious[threshold][rs.labels == k].mean()), 4)
        for k, name in enumerate(rs.classes)
        if (rs.labels == k).any()
    }
    fused: dict[float, list[float]] = {t: [] for t in THRESHOLDS}
    blind: dict[float, list[float]] = {t: [] for t in THRESHOLDS}
    for group in fused_views(rs, fuse):
        p, c = probs[group].astype(np.float32), confs[group].astype(np.float32)
        target = rs.targets(group[:1])
        if frame == "object":
            occ, _ = fuse_canonical(p, c, az[group], az_conf[group], rs.azimuth[group])
            occ_blind, _ = fuse_canonical(p, c, az[group], az_conf[group], None)
            for th in THRESHOLDS:
                blind[th].append(float(iou(occ_blind[None], target, th)[0]))
        else:
            occ, _ = fuse_occupancy(p, c, rs.azimuth[group])
        for th in THRESHOLDS:
            fused[th].append(float(iou(occ[None], target, th)[0]))
    report("validate", 1.0)
    extra: dict[str, Any] = {}
    if frame == "object":
        extra[f"fused_{fuse}_views_no_azimuths"] = {
            f"iou_{t}": round(float(np.mean(v)), 4) for t, v in blind.items()
        } | {"objects": len(blind[threshold])}
        extra["azimuth"] = {k: round(v, 4) for k, v in azimuth_metrics(az, rs.azimuth).items()}
    return {
        "views": len(rs),
        "objects": len(np.unique(rs.object_index)),
        "threshold": threshold,
        "single_view": {f"iou_{t}": round(float(v.mean()), 4) for t, v in ious.items()}
        | {"dice": round(float(dice.mean()), 4)},
        f"fused_{fuse}_views": {f"iou_{t}": round(float(np.mean(v)), 4) for t, v in fused.items()}
        | {"objects": len(fused[threshold])},
        "per_class_single_view_iou": per_class,
    } | extra


def measure_latency(reconstructor: Any, image: np.ndarray, views: int = 1, repeats: int = 20) -> float:
    """Median milliseconds of ``reconstructor.predict`` on ``views`` copies of ``image``."""
    azimuths = [360.0 * k / views for k in range(views)]
    reconstructor.predict([image] * views, azimuths)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        reconstructor.predict([image] * views, azimuths)
        times.append(time.perf_counter() - t)
    return 1000.0 * float(np.median(times))


def ship_reconstruction(
    run_dir: str | Path,
    stem: str | Path,
    *,
    command: str,
    trained_on: str,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Export a run's ``best.pt`` as ``<stem>.safetensors`` + ``.json`` + ``.md`` model card, with
    validation metrics on every view of the run's validation objects and CPU latency (2 threads)."""
    import platform

    import yaml

    from voxforge.core.outputs import atomic_write_bytes
    from voxforge.nn.reconstruct.inference import Reconstructor, save_reconstructor
    from voxforge.nn.reconstruct.renderset import load_render_set

    run = Path(run_dir)
    cfg = ReconTrainConfig.model_validate(yaml.safe_load((run / "config.yaml").read_text()))
    ckpt = torch.load(run / "best.pt", map_location="cpu", weights_only=False)
    model = create_recon_model(ckpt["meta"]["arch"], **ckpt["meta"]["arch_args"])
    model.load_state_dict(ckpt["model"])
    model.eval()
    threshold = float(ckpt["state"]["threshold"])
    val = _limit(load_render_set(cfg.data.path, "val"), cfg.data.limit_objects)
    metrics = validation_report(model, val, cfg.kind, threshold=threshold, progress=progress,
                                frame=cfg.frame, flip_tta=cfg.frame == "object")  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    rec = Reconstructor(model, cfg.kind, frame=cfg.frame)
    pixels = val.sketches[0] if cfg.kind == "sketch" else val.images[0]
    latency = {"ms_1_view": round(measure_latency(rec, pixels, 1), 1),
               "ms_5_views": round(measure_latency(rec, pixels, 5, repeats=5), 1),
               "threads": 2, "cpu": platform.processor() or platform.machine()}  # fmt: skip
    torch.set_num_threads(threads)
    rows = (run / "metrics.csv").read_text().splitlines()
    best = ckpt["state"]["best"]
    extra = {
        "threshold": threshold,
        "checkpoint_epoch": int(ckpt["epoch"]),
        "params": sum(p.numel() for p in model.parameters()),
        "validation": metrics,
        "surface_heads": {k: round(v, 5) for k, v in best.items() if k.startswith("surf_")},
        "latency": latency,
        "training": {"command": command, "trained_on": trained_on, "seed": cfg.seed,
                     "minutes": round(float(ckpt["state"]["seconds"]) / 60, 1),
                     "epochs_run": len(rows) - 1, "samples_per_epoch": cfg.samples_per_epoch,
                     "data": cfg.data.path, "init_from": cfg.init_from,
                     "config": cfg.model_dump(mode="json")},
    }  # fmt: skip
    st, js = save_reconstructor(model, stem, kind=cfg.kind, extra=extra, frame=cfg.frame)
    import json

    info = json.loads(js.read_text())
    info["size_bytes"] = st.stat().st_size
    atomic_write_bytes(js, (json.dumps(info, indent=2) + "\n").encode())
    curve = "\n".join(rows)
    atomic_write_bytes(Path(stem).with_suffix(".md"), model_card(info, curve).encode())
    return info


def _frame_text(info: dict[str, Any]) -> str:
    """The model card's paragraph on the network's frame and multi-view fusion."""
    if info.get("frame", "view") == "object":
        return """The network predicts the object in its own (canonical) frame, the same for every view,
plus the camera azimuth (a classifier over 5° bins with sub-bin refinement): the single-view
result is the object-frame grid turned by minus the predicted azimuth. Each image also runs
left-right flipped (the object mirrored in y, seen from minus the azimuth) and the two passes are
averaged (flip test-time augmentation, in the metrics and latency below). Several views are fused
by averaging their object-frame probabilities with per-voxel confidence weights (no azimuths
needed), then turned by the first view's azimuth: its prediction, or, when the azimuths are given,
the confidence-weighted consensus of every view's prediction shifted by the given differences."""
    return """The network predicts each view in its own yaw frame. Several views are fused with per-voxel
confidence weights after turning each by its azimuth relative to the first (unknown azimuths:
equal steps around the object)."""


def _azimuth_text(info: dict[str, Any]) -> str:
    """The model card's lines on the azimuth head and fusion without azimuths (object frame)."""
    v = info["validation"]
    if "azimuth" not in v:
        return ""
    a, nb = v["azimuth"], v.get("fused_5_views_no_azimuths", {})
    return f"""Azimuth head, every validation view: {100 * a["az_acc15"]:.1f} % within 15° ({
        100 * a["az_acc15_mod180"]:.1f} % modulo 180°: front/back confusions of symmetric objects
forgiven), median error {a["az_median_err"]:.1f}°. Five views fused without giving their azimuths
(the first view's predicted azimuth alone): IoU@0.4 {nb.get("iou_0.4", float("nan")):.4f}.

"""


def model_card(info: dict[str, Any], curve: str) -> str:
    """The Markdown model card of a shipped reconstruction network from its JSON sidecar."""
    v, lat, tr = info["validation"], info["latency"], info["training"]
    sv, fv = v["single_view"], v["fused_5_views"]
    per = "\n".join(f"| {c} | {x:.3f} |" for c, x in v["per_class_single_view_iou"].items())
    what = "rendered views" if info["kind"] == "image" else "sketches (line drawings) of rendered views"
    return f"""# {info["name"]}

Reconstructs a 32³ occupancy grid (plus 1,024 surface points and a 642-vertex mesh) from one or
more {what}: a `{info["architecture"]}` network, {info["params"]:,} parameters,
{info["size_bytes"] / 1e6:.2f} MB of float16 weights (safetensors; run in float32).

## Input contract
128x128 uint8 {
        "RGB: the object centred on a plain light background"
        if info["kind"] == "image"
        else "grey or RGB: dark lines on white paper"
    } (`voxforge.nn.reconstruct.photo.prepare_image` cuts photos out).
Output in the first view's yaw frame: the camera looks from +x toward -x, screen right is +y,
z up; voxels are occupied at probability >= {info["threshold"]} (chosen on validation IoU).
{_frame_text(info)}

## Data
The project's render set of the shared ModelNet10 training split (`{tr["data"]}`: smooth
marching-cubes surfaces of the 30³ voxels, random azimuth, elevation 0-45°, lights, grey and colour
materials, plain and varied backgrounds, sketch variants). Objects are split by the classifier's
stratified split (15 %, seed 0): no object has views on both sides. The official ModelNet10 test
split was not used for anything.

## Validation metrics (validation objects, not the test set)
{v["views"]} views of {v["objects"]} objects.

| | IoU@0.3 | IoU@0.4 | IoU@0.5 |
| --- | --- | --- | --- |
| single view | {sv["iou_0.3"]:.4f} | {sv["iou_0.4"]:.4f} | {sv["iou_0.5"]:.4f} |
| 5 views fused ({fv["objects"]} objects) | {fv["iou_0.3"]:.4f} | {fv["iou_0.4"]:.4f} | {
        fv["iou_0.5"]:.4f} |

Single-view Dice at {info["threshold"]}: {sv["dice"]:.4f}. Per class, single view, IoU at {
        info["threshold"]
    }:

| class | IoU |
| --- | --- |
{per}

Point and mesh heads (fitted on frozen latents, training views): {info["surface_heads"]}
(Chamfer-L2 in squared cube units; the cube side is 1).

{_azimuth_text(info)}## Latency
{lat["ms_1_view"]} ms for one image and {lat["ms_5_views"]} ms for five views (fusion included),
{lat["threads"]} CPU threads ({lat["cpu"]}), measured on the training machine with other jobs
sharing its cores.

## Training
Trained on: {tr["trained_on"]}; {tr["minutes"]} min, {tr["epochs_run"]} epochs of
{tr["samples_per_epoch"]} views, seed {tr["seed"]}{
        ", initialised from " + str(tr["init_from"]) if tr["init_from"] else ""
    }. Command:

    {tr["command"]}

Learning curve (`metrics.csv`; IoU on the first view of every validation object):

```
{curve}
```

## Limitations
Trained on 10 furniture classes of ModelNet10 only, at 32³; thin parts (chair legs) are the
first to go. Real photos must be cut out first; unusual camera elevations (below the horizon,
top-down) were never seen in training. The CPU budget was small, so the network is under-trained.
"""
