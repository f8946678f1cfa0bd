"""Train a shape classifier: plain functions (``train_one_epoch``, ``validate``) and a run loop.

A run lives in ``<output_dir>/<name>/``: ``config.yaml`` (resolved), ``metrics.csv``, TensorBoard
events under ``tb/`` (only when the ``tensorboard`` package is installed), ``last.pt`` (every
epoch, for ``resume``), ``epoch_NNN.pt`` every ``checkpoint_every`` epochs and ``best.pt``
(highest single-view validation accuracy, ties to the lower validation loss; voting accuracy
costs ``vote_views`` times more and is logged every ``vote_every`` epochs). Early stopping
watches validation loss.
Everything is seeded: the split, each epoch's shuffle and augmentation (seed + epoch), dropout.
Under ``torchrun`` (``voxforge train classifier --procs-per-node M``) every process draws the
same global batch, takes its share (:func:`voxforge.nn.training.shard`) and DistributedDataParallel
averages the gradients; rank 0 writes the run folder.
"""

from __future__ import annotations

import hashlib
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

from voxforge.core.config import dump_config, load_config
from voxforge.core.errors import ConfigError
from voxforge.core.progress import ProgressCallback, null_progress
from voxforge.nn.classify.data import (
    Augment,
    cutmix_voxels,
    iterate_batches,
    points_from_voxels,
    remeshed_grids,
    scanned_grids,
    voting_views,
)
from voxforge.nn.classify.distill import kd_loss, load_teacher
from voxforge.nn.classify.models import MODELS, count_parameters, create_model
from voxforge.nn.datasets import ClassifierData, load_voxel_set, stratified_split
from voxforge.nn.training import (
    Dist,
    all_sum,
    append_csv,
    check_global_batch,
    distributed,
    lr_factor,
    resume_checkpoint,
    save_checkpoint,
    setup_torch,
    shard,
    wrap_model,
)

log = logging.getLogger(__name__)


class DataConfig(BaseModel):
    """Where the samples come from and how the validation split is carved."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        "../shared/data/modelnet10_vox30_train.npz",
        description="Dataset npz (voxels, labels, classes), relative to the working directory.",
    )
    val_fraction: float = Field(0.15, gt=0.0, lt=1.0, description="Stratified validation share.")
    split_seed: int = Field(0, ge=0, description="Seed of the stratified split.")
    group_iou: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="Grouped split: near-duplicates (same-class aligned voxel IoU >= this) stay on "
        "one side (voxforge.nn.classify.grouping); None = a plain stratified split.",
    )
    num_points: int = Field(1024, ge=16, le=16384, description="Points per shape (point models).")
    limit: int | None = Field(
        None, ge=2, description="Use only the first N samples (smoke tests); None = all."
    )


class AugmentConfig(BaseModel):
    """Training augmentation (see :class:`voxforge.nn.classify.data.Augment`)."""

    model_config = ConfigDict(extra="forbid")

    rotations: int = Field(12, ge=1, le=360, description="Rotation steps about z (12 = 30°).")
    mirror: bool = Field(True, description="Random x mirror.")
    shift: int = Field(2, ge=0, le=6, description="Largest random shift, cells.")
    scale: float = Field(
        0.0, ge=0.0, lt=0.5, description="Anisotropic scaling: per-axis factor in [1-scale, 1+scale]."
    )
    tilt: float = Field(0.0, ge=0.0, le=30.0, description="Largest tilt off vertical, degrees.")
    cutmix: float = Field(
        0.0, ge=0.0, le=1.0, description="Share of voxel batches mixed by CutMix (cutmix_voxels)."
    )
    remeshed: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of training grids replaced by a copy voxelized from their surface at a "
        "random yaw, as meshes arrive (remeshed_grids).",
    )
    remeshed_copies: int = Field(4, ge=1, le=64, description="Remeshed copies (yaws) per grid.")
    scanned: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of training grids replaced by a simulated one-sided scan of them, as "
        "phone scans arrive (scanned_grids); drawn among the grids not remeshed.",
    )
    scanned_copies: int = Field(4, ge=1, le=64, description="Scanned copies per grid.")

    @model_validator(mode="after")
    def _shares(self) -> AugmentConfig:
        if self.remeshed + self.scanned > 1.0:
            raise ValueError("remeshed + scanned must not exceed 1 (they are shares of the grids)")
        return self


class DistillConfig(BaseModel):
    """Knowledge distillation from a cross-fitted teacher (:mod:`voxforge.nn.classify.distill`)."""

    model_config = ConfigDict(extra="forbid")

    teacher: str = Field(..., description="Teacher file (python -m voxforge.nn.classify.distill).")
    weight: float = Field(0.5, ge=0.0, le=1.0, description="Share of the KL term in the loss.")
    temperature: float = Field(2.0, gt=0.0, le=20.0, description="Softening of both distributions.")


class ClassifierTrainConfig(BaseModel):
    """Everything a classifier training run needs; loaded from ``configs/classifier/*.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="Run name.")
    model: str = Field("voxresnet", description="Registered model name (voxforge.nn.classify.models).")
    model_args: dict[str, Any] = Field(default_factory=dict, description="Model overrides.")
    init_from: str | None = Field(
        None, description="Start from a shipped model's weights (name or path; same architecture)."
    )
    distill: DistillConfig | None = Field(None, description="Add a distillation term to the loss.")
    orientation: float = Field(
        0.0,
        ge=0.0,
        le=10.0,
        description="Weight of the auxiliary orientation loss (ORION): a training-only linear head "
        "on the pooled features predicts each grid's rotation bin (voxel models; 0 = off).",
    )
    data: DataConfig = Field(default_factory=DataConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    epochs: int = Field(60, ge=1, le=10_000)
    batch_size: int = Field(32, ge=2, le=4096)
    lr: float = Field(2e-3, gt=0.0, le=1.0, description="Peak AdamW learning rate.")
    weight_decay: float = Field(1e-2, ge=0.0, le=1.0)
    warmup_epochs: float = Field(2.0, ge=0.0, description="Linear warm-up, then cosine decay.")
    min_lr_ratio: float = Field(0.01, ge=0.0, le=1.0, description="Final lr / peak lr.")
    label_smoothing: float = Field(0.1, ge=0.0, lt=1.0)
    grad_clip: float = Field(1.0, gt=0.0, description="Max gradient L2 norm.")
    early_stopping_patience: int = Field(
        15, ge=1, description="Stop after this many epochs without a lower validation loss."
    )
    checkpoint_every: int = Field(5, ge=1, description="Keep epoch_NNN.pt every N epochs.")
    vote_views: int = Field(12, ge=1, le=36, description="Rotations for voting at validation.")
    vote_every: int = Field(
        5, ge=1, description="Measure voting accuracy every N epochs (and the last); it costs views x."
    )
    seed: int = Field(0, ge=0)
    num_threads: int = Field(2, ge=1, le=256, description="torch CPU threads.")
    device: Literal["cpu", "cuda"] = "cpu"
    output_dir: str = Field("runs/classifier", description="Runs go to <output_dir>/<name>/.")

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        if v not in MODELS:
            MODELS[v]  # raises ConfigError listing close matches
        return v

    @model_validator(mode="after")
    def _check(self) -> ClassifierTrainConfig:
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs {self.warmup_epochs} must be below epochs {self.epochs}")
        if self.orientation > 0 and (self.augment.remeshed > 0 or self.augment.scanned > 0):
            raise ValueError(
                "orientation and remeshed or scanned copies do not combine (a copy's yaw is free)"
            )
        r = self.augment.rotations
        if self.orientation > 0 and (r < 2 or (self.augment.mirror and r % 2)):
            raise ValueError(
                f"orientation needs at least 2 rotations, an even number with mirror (got {r})"
            )
        return self

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name


def load_train_config(
    path: str | Path, overrides: dict[str, Any] | None = None
) -> ClassifierTrainConfig:
    """Read a training YAML (unknown keys and impossible values raise ConfigError, one line)."""
    return load_config(ClassifierTrainConfig, path, overrides)


# --------------------------------------------------------------------------- batches


@dataclass
class Prepared:
    """Train and validation sets plus the model's input kind."""

    train: ClassifierData
    val: ClassifierData
    input_kind: str
    train_index: np.ndarray | None = None
    """Indices of the training shapes in the data file (a ``limit`` keeps its first samples)."""
    remeshed: np.ndarray | None = None
    """(N_train, copies, 32, 32, 32) remeshed copies of the training grids, or None."""
    scanned: np.ndarray | None = None
    """(N_train, copies, 32, 32, 32) simulated one-sided scans of the training grids, or None."""


def prepare_data(config: ClassifierTrainConfig) -> Prepared:
    """Load the npz, carve the (grouped) stratified validation split, sample points for point models."""
    data = load_voxel_set(config.data.path)
    if config.data.limit is not None:
        data = data.subset(np.arange(min(config.data.limit, len(data))))
    kind = MODELS[config.model].input_kind
    if kind == "points":
        data.points = points_from_voxels(data.voxels, config.data.num_points, seed=config.seed)
    if config.data.group_iou is not None:
        from voxforge.nn.classify.grouping import group_shapes, grouped_split

        groups = group_shapes(data.voxels, data.labels, config.data.group_iou)
        tr, va = grouped_split(data.labels, groups, config.data.val_fraction, config.data.split_seed)
        if len(va) == 0:
            raise ConfigError(
                f"{config.data.path}: with group_iou {config.data.group_iou} every group is larger "
                f"than a {config.data.val_fraction:.0%} validation share; raise group_iou or "
                "val_fraction"
            )
    else:
        tr, va = stratified_split(data.labels, config.data.val_fraction, config.data.split_seed)
    return Prepared(data.subset(tr), data.subset(va), kind, tr)


def to_tensor(data: ClassifierData, index: np.ndarray, kind: str, device: str) -> torch.Tensor:
    """Model input for samples ``index``: voxels (B, 1, 32, 32, 32) or points (B, P, 3) float32."""
    if kind == "points":
        assert data.points is not None
        return torch.from_numpy(data.points[index]).to(device)
    return torch.from_numpy(data.voxels[index]).float().unsqueeze(1).to(device)


# --------------------------------------------------------------------------- epochs


def train_one_epoch(
    model: nn.Module,
    data: ClassifierData,
    kind: str,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config: ClassifierTrainConfig,
    epoch: int,
    progress: ProgressCallback | None = None,
    dist: Dist | None = None,
    teacher: np.ndarray | None = None,
    orient_head: nn.Module | None = None,
    remeshed: np.ndarray | None = None,
    scanned: np.ndarray | None = None,
) -> dict[str, float]:
    """One pass over ``data`` with augmentation; returns mean loss and accuracy.

    With ``teacher`` ((N, C) log-probabilities aligned with ``data``) and ``config.distill``,
    the loss is :func:`voxforge.nn.classify.distill.kd_loss`.

    With ``orient_head`` (a module from pooled features to ``augment.rotations`` logits), each
    grid gets its own rotation and the loss adds ``config.orientation`` x the cross-entropy of
    its orientation bin (:meth:`voxforge.nn.classify.data.Augment.posed_voxels`).

    With ``remeshed`` ((N, copies, ...) aligned with ``data``), ``augment.remeshed`` of the grids
    are swapped for one of their remeshed copies before the other augmentations; with
    ``scanned``, ``augment.scanned`` of them (drawn among the rest) for a simulated scan.

    With ``dist``, each global batch is augmented whole (the same random draws as one process)
    and this process trains on its share; the counters are summed over the processes.
    """
    dist = dist or Dist()
    model.train()
    rng = np.random.default_rng([config.seed, epoch])
    torch.manual_seed(config.seed * 100_003 + epoch)
    a = config.augment
    aug = Augment(a.rotations, a.mirror, a.shift, a.scale, a.tilt)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    report = progress or null_progress
    n_batches = max(1, len(data) // config.batch_size) if len(data) >= config.batch_size else 1
    total_loss, correct, seen = 0.0, 0, 0
    batches = iterate_batches(len(data), config.batch_size, rng, drop_last=True)
    for b, idx in enumerate(batches):
        mix: tuple[torch.Tensor, torch.Tensor] | None = None
        pose: torch.Tensor | None = None
        if kind == "points":
            assert data.points is not None
            x = torch.from_numpy(aug.points(data.points[idx], rng))
        else:
            vox = data.voxels[idx]
            if remeshed is not None and a.remeshed > 0:
                swap = rng.random(len(idx)) < a.remeshed
                copy = rng.integers(remeshed.shape[1], size=len(idx))
                vox = np.where(swap[:, None, None, None], remeshed[idx, copy], vox)
            if scanned is not None and a.scanned > 0:
                taken = rng.random(len(idx)) < a.scanned / max(1.0 - a.remeshed, 1e-9)
                if remeshed is not None and a.remeshed > 0:
                    taken &= ~swap
                copy = rng.integers(scanned.shape[1], size=len(idx))
                vox = np.where(taken[:, None, None, None], scanned[idx, copy], vox)
            if orient_head is not None:
                vox, bins = aug.posed_voxels(vox, rng)
                pose = torch.from_numpy(bins).to(config.device)
            else:
                vox = aug.voxels(vox, rng)
            if a.cutmix > 0 and rng.random() < a.cutmix:
                vox, partner, own = cutmix_voxels(vox, rng)
                mix = (torch.from_numpy(data.labels[idx][partner]), torch.from_numpy(own))
            x = torch.from_numpy(vox).float().unsqueeze(1)
        y = torch.from_numpy(data.labels[idx])
        t = None if teacher is None else torch.from_numpy(teacher[idx])
        if dist.enabled:
            part = torch.from_numpy(shard(np.arange(len(idx)), dist))
            x, y = x[part], y[part]
            t = None if t is None else t[part]
            mix = None if mix is None else (mix[0][part], mix[1][part])
        x, y = x.to(config.device), y.to(config.device)
        if orient_head is not None:
            feats = model.forward_features(x)
            logits = model.head(feats)
        else:
            logits = model(x)
        if t is not None and config.distill is not None:
            loss = kd_loss(logits, y, t.to(config.device), weight=config.distill.weight,
                           temperature=config.distill.temperature,
                           label_smoothing=config.label_smoothing)  # fmt: skip
        elif mix is not None:
            y2, own = mix[0].to(config.device), mix[1].to(config.device)
            ce = nn.functional.cross_entropy
            s = config.label_smoothing
            per = own * ce(logits, y, reduction="none", label_smoothing=s) + (1 - own) * ce(
                logits, y2, reduction="none", label_smoothing=s
            )
            loss = per.mean()
        else:
            loss = loss_fn(logits, y)
        if orient_head is not None and pose is not None:
            loss = loss + config.orientation * nn.functional.cross_entropy(orient_head(feats), pose)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = list(model.parameters())
        if orient_head is not None:
            params += list(orient_head.parameters())
        nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        scheduler.step()
        total_loss += float(loss.detach()) * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        report("train", (b + 1) / n_batches)
    total_loss, correct, seen = all_sum([total_loss, correct, seen], dist, config.device)
    return {"loss": total_loss / max(seen, 1), "acc": correct / max(seen, 1)}


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    data: ClassifierData,
    kind: str,
    *,
    views: int = 1,
    batch_size: int = 64,
    device: str = "cpu",
) -> np.ndarray:
    """(N, C) float32 logits; with ``views > 1`` the mean softmax over rotations about z (as log).

    Voting averages probabilities of the ``views`` rotated copies (grids: index-map rotations;
    points: exact rotations), the LightNet/VoxNet test-time scheme.
    """
    model.eval()
    out = []
    for idx in iterate_batches(len(data), batch_size):
        if views <= 1:
            out.append(model(to_tensor(data, idx, kind, device)).float().cpu())
            continue
        if kind == "points":
            assert data.points is not None
            pts = data.points[idx]
            ang = 2 * np.pi * np.arange(views) / views
            rot = np.zeros((views, 3, 3), np.float32)
            rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = (
                np.cos(ang),
                -np.sin(ang),
                np.sin(ang),
                np.cos(ang),
            )
            rot[:, 2, 2] = 1
            stack = np.einsum("npk,vjk->vnpj", pts, rot).reshape(-1, *pts.shape[1:])
            x = torch.from_numpy(np.ascontiguousarray(stack, dtype=np.float32))
        else:
            stack = voting_views(data.voxels[idx], views).reshape(-1, *data.voxels.shape[1:])
            x = torch.from_numpy(stack).float().unsqueeze(1)
        prob = torch.softmax(model(x.to(device)).float(), dim=1).reshape(views, len(idx), -1)
        out.append(torch.log(prob.mean(0).clamp_min(1e-12)).cpu())
    if not out:
        return np.zeros((0, 0), np.float32)
    return torch.cat(out).numpy()


def validate(
    model: nn.Module, data: ClassifierData, kind: str, config: ClassifierTrainConfig, vote: bool = True
) -> dict[str, float]:
    """Validation loss and accuracy (single view) and, when ``vote``, accuracy with rotation voting."""
    logits = predict_logits(model, data, kind, views=1, device=config.device)
    y = torch.from_numpy(data.labels)
    loss = float(nn.functional.cross_entropy(torch.from_numpy(logits), y))
    acc = float((logits.argmax(1) == data.labels).mean())
    voted = acc if config.vote_views <= 1 else math.nan
    if vote and config.vote_views > 1:
        vl = predict_logits(model, data, kind, views=config.vote_views, device=config.device)
        voted = float((vl.argmax(1) == data.labels).mean())
    return {"loss": loss, "acc": acc, "acc_vote": voted}


# --------------------------------------------------------------------------- run


@dataclass
class TrainResult:
    """What a run produced: its folder, best epoch and metrics, and whether it stopped early."""

    run_dir: Path
    best_epoch: int
    best: dict[str, float]
    epochs_run: int
    stopped_early: bool
    seconds: float


def train_classifier(
    config: ClassifierTrainConfig,
    *,
    resume: bool = False,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train ``config.model`` on ``config.data``; see the module docstring for the run folder.

    Args:
        resume: continue from ``<run_dir>/last.pt`` (same config) instead of starting over.
        progress: ``callback(stage, fraction)``; stage is ``"epoch i/n"``.

    Raises:
        ConfigError: CUDA requested but absent, ``resume`` without a checkpoint, or a batch that
            does not split evenly over the distributed processes.
    """
    with distributed(config.device) as dist:
        return _train(config, resume, progress, dist)


def _train(
    config: ClassifierTrainConfig, resume: bool, progress: ProgressCallback | None, dist: Dist
) -> TrainResult:
    per_process = check_global_batch(config.batch_size, dist)
    setup_torch(config.device, config.num_threads, config.seed)
    run = config.run_dir
    if dist.main:
        run.mkdir(parents=True, exist_ok=True)
    prep = prepare_data(config)
    keep = run if dist.main else None
    if config.augment.remeshed > 0 and prep.input_kind == "voxels":
        prep.remeshed = _form_copies("remeshed", config, prep.train, keep, progress)
    if config.augment.scanned > 0 and prep.input_kind == "voxels":
        prep.scanned = _form_copies("scanned", config, prep.train, keep, progress)
    classes = prep.train.classes
    model = create_model(config.model, num_classes=len(classes), **config.model_args)
    if config.init_from is not None:
        _load_initial(model, config.init_from)
    model = model.to(config.device)
    teacher = None
    if config.distill is not None:
        assert prep.train_index is not None
        data_labels = load_voxel_set(config.data.path).labels
        teacher = load_teacher(config.distill.teacher, data_labels, prep.train_index)
    orient_head = _orientation_head(model, config, prep.input_kind, dist)
    params = list(model.parameters()) + ([] if orient_head is None else list(orient_head.parameters()))
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    per_epoch = max(1, len(prep.train) // config.batch_size)
    total, warm = per_epoch * config.epochs, round(per_epoch * config.warmup_epochs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total, warm, config.min_lr_ratio)
    )
    state = {"epoch": 0, "best_acc": -1.0, "best_loss": math.inf, "best_epoch": 0,
             "best": {}, "min_val_loss": math.inf, "bad_epochs": 0}  # fmt: skip
    if resume:
        resume_checkpoint(run, config.device, model, optimizer, scheduler, state)
        if orient_head is not None:
            orient_head.load_state_dict(state["orientation_head"])
        log.info("resumed %s at epoch %d", run, state["epoch"])
    trained = wrap_model(model, dist, config.device)  # after resume: DDP broadcasts rank 0's
    meta = {"arch": config.model, "arch_args": model.arch_args, "classes": classes,
            "input_kind": prep.input_kind, "params": count_parameters(model),
            "world_size": dist.world_size, "per_process_batch": per_process}  # fmt: skip
    writer = None
    if dist.main:
        (run / "config.yaml").write_text(dump_config(config), encoding="utf-8")
        writer = _tensorboard(run)
    report = (progress or null_progress) if dist.main else null_progress
    t0, stopped = time.perf_counter(), False
    for epoch in range(int(state["epoch"]) + 1, config.epochs + 1):
        te = time.perf_counter()
        stage = f"epoch {epoch}/{config.epochs}"
        tr = train_one_epoch(
            trained, prep.train, prep.input_kind, optimizer, scheduler, config, epoch,
            progress=lambda _s, f, stage=stage: report(stage, f), dist=dist, teacher=teacher,
            orient_head=orient_head, remeshed=prep.remeshed, scanned=prep.scanned,
        )  # fmt: skip
        if orient_head is not None:
            head_state = orient_head.state_dict()
            state["orientation_head"] = {k: v.detach().clone() for k, v in head_state.items()}
        vote = epoch % config.vote_every == 0 or epoch == config.epochs
        va = validate(model, prep.val, prep.input_kind, config, vote=vote)
        row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "train_loss": tr["loss"],
               "train_acc": tr["acc"], "val_loss": va["loss"], "val_acc": va["acc"],
               "val_acc_vote": va["acc_vote"], "seconds": time.perf_counter() - te}  # fmt: skip
        if dist.main:
            append_csv(run / "metrics.csv", row)
        if writer is not None:
            for k, v in row.items():
                if k != "epoch":
                    writer.add_scalar(k, v, epoch)
            writer.flush()
        log.info("epoch %d: %s", epoch, {k: round(v, 4) for k, v in row.items()})
        score = (va["acc"], -va["loss"])
        if score > (state["best_acc"], -state["best_loss"]):
            state.update(best_acc=va["acc"], best_loss=va["loss"], best_epoch=epoch, best=row)
            if dist.main:
                save_checkpoint(run / "best.pt", model, optimizer, scheduler, state, meta, epoch)
        if va["loss"] < state["min_val_loss"] - 1e-4:
            state.update(min_val_loss=va["loss"], bad_epochs=0)
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        if dist.main:
            save_checkpoint(run / "last.pt", model, optimizer, scheduler, state, meta, epoch)
        if dist.main and epoch % config.checkpoint_every == 0:
            save_checkpoint(
                run / f"epoch_{epoch:03d}.pt", model, optimizer, scheduler, state, meta, epoch
            )
        if state["bad_epochs"] >= config.early_stopping_patience:
            log.info(
                "early stop at epoch %d: no lower val loss for %d epochs", epoch, state["bad_epochs"]
            )
            stopped = True
            break
    if writer is not None:
        writer.close()
    return TrainResult(run, int(state["best_epoch"]), dict(state["best"]), int(state["epoch"]),
                       stopped, time.perf_counter() - t0)  # fmt: skip


def _form_copies(
    form: str,
    config: ClassifierTrainConfig,
    train: ClassifierData,
    run: Path | None,
    progress: ProgressCallback | None,
) -> np.ndarray:
    """The training grids' copies as real inputs reach the classifier, kept in the run folder:
    ``form`` ``remeshed`` (:func:`remeshed_grids`) or ``scanned`` (:func:`scanned_grids`).

    Making them takes 13-20 ms a copy on one core, so ``<form>.npz`` (bit-packed, with a
    fingerprint of the grids, copies and seed) lets ``resume`` and reruns skip it.
    """
    copies = getattr(config.augment, f"{form}_copies")
    digest = hashlib.sha1(np.ascontiguousarray(train.voxels).tobytes())
    digest.update(f"{copies}:{config.seed}".encode())
    key = digest.hexdigest()
    path = None if run is None else run / f"{form}.npz"
    if path is not None and path.is_file():
        with np.load(path) as z:
            if str(z["key"]) == key:
                return np.unpackbits(z["bits"], count=int(z["count"])).reshape(z["shape"])
    report = progress or null_progress
    make = {"remeshed": remeshed_grids, "scanned": scanned_grids}[form]
    grids = make(train.voxels, copies, config.seed, lambda _s, f: report(form, f))
    if path is not None:
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, bits=np.packbits(grids), count=grids.size, shape=grids.shape, key=key)
        tmp.replace(path)
    return grids


def _orientation_head(
    model: nn.Module, config: ClassifierTrainConfig, kind: str, dist: Dist
) -> nn.Module | None:
    """The training-only orientation head (pooled features to rotation-bin logits), or None.

    It lives beside the model, not in it, so the shipped weights and their loaders stay the
    plain classifier's; its weights ride in the run's checkpoints (``state``) for ``resume``.

    Raises:
        ConfigError: orientation asked of a point model, a model without ``forward_features`` and
            ``head``, or a distributed run (the head's gradients would not be averaged).
    """
    if config.orientation <= 0:
        return None
    if kind != "voxels" or not hasattr(model, "head") or not hasattr(model, "forward_features"):
        raise ConfigError(f"orientation needs a voxel model with features and a head: {config.model}")
    if dist.enabled:
        raise ConfigError("orientation trains in one process (its head is not distributed)")
    return nn.Linear(int(model.feature_dim), config.augment.rotations).to(config.device)


def _load_initial(model: nn.Module, name: str) -> None:
    """Copy a shipped classifier's weights into ``model`` (fine-tuning).

    Raises:
        ConfigError: the shipped model has another architecture or other weight shapes.
    """
    from voxforge.nn.classify.inference import load_classifier

    try:
        model.load_state_dict(load_classifier(name).model.state_dict())
    except RuntimeError as err:
        raise ConfigError(
            f"init_from {name!r}: weights do not fit this model ({str(err).splitlines()[0]})"
        ) from None


def _tensorboard(run: Path) -> Any:
    """A SummaryWriter under ``run/tb`` when ``tensorboard`` is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.info("tensorboard not installed; writing metrics.csv only")
        return None
    return SummaryWriter(str(run / "tb"))
