"""Training the completion U-Net on simulated one-sided scans (CPU, one thread, fixed seed).

The loss is occupancy BCE plus soft Dice over the whole grid. Batches are augmented by the
symmetries of the problem (quarter turns about z and mirroring x, applied to the partial, the
known-empty mask and the target together). The checkpoint with the best validation IoU is kept
(``best.pt``); ``metrics.csv`` holds the learning curve.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch.nn import functional as F

from voxforge.core.config import dump_config, load_config
from voxforge.core.errors import ConfigError
from voxforge.core.progress import ProgressCallback, null_progress
from voxforge.nn.completion.dataset import CompletionDataConfig, CompletionSet, load_or_build
from voxforge.nn.completion.model import CompletionUNet, count_params
from voxforge.nn.metrics import iou
from voxforge.nn.training import append_csv, lr_factor

log = logging.getLogger(__name__)

THRESHOLDS = (0.3, 0.4, 0.5)


class CompletionTrainConfig(BaseModel):
    """A completion training run; loaded from ``configs/completion/*.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="Run name.")
    data: CompletionDataConfig = Field(default_factory=CompletionDataConfig)
    widths: list[int] = Field([8, 16, 48, 128], min_length=2, max_length=5)
    steps: int = Field(700, ge=1, description="Optimizer steps (the schedule's length).")
    batch_size: int = Field(16, ge=1)
    lr: float = Field(0.002, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    warmup_steps: int = Field(30, ge=0)
    min_lr_ratio: float = Field(0.05, ge=0, le=1)
    dice: float = Field(1.0, ge=0, description="Weight of the soft Dice loss beside BCE.")
    validate_every: int = Field(100, ge=1, description="Steps between validations.")
    augment: bool = Field(True, description="Quarter turns about z and x mirroring.")
    max_minutes: float | None = Field(
        None,
        gt=0,
        description="Safety stop after this wall time (None: run all `steps`). A run that stops "
        "on the clock depends on the machine's load and is not reproducible.",
    )
    schedule: Literal["steps", "time"] = Field(
        "steps",
        description="Cosine learning rate over `steps` (deterministic), or over `max_minutes` of "
        "wall time (ends on time with the rate decayed whatever the load; not reproducible).",
    )
    val_samples: int | None = Field(
        None, ge=1, description="Validate on this many validation scans (evenly spread; all: None)."
    )
    threads: int = Field(1, ge=1, description="torch threads (the CPU is shared).")
    init: str | None = Field(
        None,
        description="Start from these weights (a run's ``best.pt`` or a shipped ``.safetensors`` "
        "stem) instead of a random initialisation: a second stage over an earlier run.",
    )
    seed: int = 0
    output_dir: str = "runs/completion"


def load_completion_config(
    path: str | Path, overrides: dict[str, Any] | None = None
) -> CompletionTrainConfig:
    """Read a training config YAML (``overrides`` win)."""
    return load_config(CompletionTrainConfig, path, overrides)


@dataclass
class CompletionTrainResult:
    """Where the run went and how good its best checkpoint is."""

    run_dir: Path
    best: dict[str, float]
    best_step: int
    steps_run: int
    seconds: float


def augment_batch(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Turn each sample a random number of quarter turns about z and maybe mirror its x axis."""
    xo, yo = np.empty_like(x), np.empty_like(y)
    for i in range(len(x)):
        k = int(rng.integers(4))
        xi = np.rot90(x[i], k, axes=(1, 2))
        yi = np.rot90(y[i], k, axes=(0, 1))
        if rng.random() < 0.5:
            xi, yi = xi[:, ::-1], yi[::-1]
        xo[i], yo[i] = xi, yi
    return xo, yo


def loss_fn(logits: torch.Tensor, target: torch.Tensor, dice_weight: float) -> torch.Tensor:
    """BCE + ``dice_weight`` x (1 - soft Dice), both averaged over the batch."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    if dice_weight == 0:
        return bce
    p = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    d = (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)
    return bce + dice_weight * (1 - d).mean()


@torch.no_grad()
def predict(model: torch.nn.Module, inputs: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """(B, R, R, R) float32 occupancy probabilities of (B, 2, R, R, R) inputs."""
    model.eval()
    out = []
    for i in range(0, len(inputs), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(inputs[i : i + batch_size], dtype=np.float32))
        out.append(torch.sigmoid(model(x)).numpy())
    return np.concatenate(out) if out else np.zeros((0, *inputs.shape[2:]), np.float32)


def validate(model: torch.nn.Module, data: CompletionSet, idx: np.ndarray) -> dict[str, float]:
    """Mean IoU at each threshold over the validation samples ``idx``."""
    scores = {t: [] for t in THRESHOLDS}
    for i in range(0, len(idx), 64):
        x, y = data.batch(idx[i : i + 64])
        p = predict(model, x)
        for t in THRESHOLDS:
            scores[t].append(iou(p, y, t))
    return {f"iou_{t}": float(np.mean(np.concatenate(v))) for t, v in scores.items()}


def _rate(config: CompletionTrainConfig, step: int, elapsed: float) -> float:
    """Learning-rate factor: warm-up over steps, then cosine over steps or over the time budget."""
    if config.schedule == "time" and config.max_minutes is not None:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        t = min(1.0, elapsed / (config.max_minutes * 60))
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + np.cos(np.pi * t))
    return lr_factor(step, config.steps, config.warmup_steps, config.min_lr_ratio)


def initial_model(config: CompletionTrainConfig) -> CompletionUNet:
    """A seeded fresh U-Net of ``config.widths``, or the weights of ``config.init``.

    Raises:
        ConfigError: ``init`` is missing, not a completion model, or of other widths.
    """
    model = CompletionUNet(tuple(config.widths))
    if config.init is None:
        return model
    from voxforge.nn.completion.infer import load_checkpoint, load_completer

    path = Path(config.init)
    start = load_checkpoint(path) if path.suffix == ".pt" else load_completer(path)
    if tuple(start.model.widths) != tuple(config.widths):
        raise ConfigError(
            f"init {path}: widths {list(start.model.widths)} differ from the config's {config.widths}"
        )
    model.load_state_dict(start.model.state_dict())
    return model


def train_completion(
    config: CompletionTrainConfig, progress: ProgressCallback | None = None
) -> CompletionTrainResult:
    """Simulate (or read the cached) data set and train ``config`` into ``output_dir/name``."""
    progress = progress or null_progress
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    run = Path(config.output_dir) / config.name
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.yaml").write_text(dump_config(config), encoding="utf-8")
    (run / "metrics.csv").unlink(missing_ok=True)
    t_start = time.perf_counter()
    data = load_or_build(config.data, progress)
    train_idx, val_idx = data.split(False), data.split(True)
    if config.val_samples is not None and config.val_samples < len(val_idx):
        val_idx = val_idx[np.linspace(0, len(val_idx) - 1, config.val_samples).round().astype(int)]
    log.info("%d training and %d validation scans", len(train_idx), len(val_idx))
    model = initial_model(config)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    best: dict[str, float] = {}
    best_step, step, losses = 0, 0, []
    order = rng.permutation(train_idx)
    pos = 0
    t_train = time.perf_counter()
    meta = {"widths": list(config.widths), "params": count_params(model), "name": config.name,
            "init": config.init}  # fmt: skip
    while step < config.steps:
        if pos + config.batch_size > len(order):
            order, pos = rng.permutation(train_idx), 0
        idx = np.sort(order[pos : pos + config.batch_size])
        pos += config.batch_size
        x, y = data.batch(idx)
        if config.augment:
            x, y = augment_batch(x, y, rng)
        for g in opt.param_groups:
            g["lr"] = config.lr * _rate(config, step, time.perf_counter() - t_train)
        model.train()
        logits = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
        loss = loss_fn(logits, torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)), config.dice)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        progress("train", step / config.steps)
        elapsed = time.perf_counter() - t_train
        out_of_time = config.max_minutes is not None and elapsed > config.max_minutes * 60
        if step % config.validate_every == 0 or step == config.steps or out_of_time:
            scores = validate(model, data, val_idx)
            row = {"step": step, "lr": opt.param_groups[0]["lr"], "train_loss": float(np.mean(losses)),
                   **scores, "seconds": time.perf_counter() - t_start}  # fmt: skip
            losses = []
            append_csv(run / "metrics.csv", row)
            log.info("step %d: %s", step, row)
            if not best or scores["iou_0.4"] > best["iou_0.4"]:
                best, best_step = scores, step
                torch.save({"model": model.state_dict(), "meta": meta, "step": step,
                            "scores": scores}, run / "best.pt")  # fmt: skip
        if out_of_time:
            break
    return CompletionTrainResult(run, best, best_step, step, time.perf_counter() - t_start)
