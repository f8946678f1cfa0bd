"""The training loop parts every voxforge network shares: torch set-up, the learning-rate
schedule, run checkpoints and the ``metrics.csv`` log.

A run folder holds ``config.yaml``, ``metrics.csv`` (one row per epoch or validation step) and
``.pt`` checkpoints with the model, optimizer, scheduler, the loop's ``state`` dict and the
``meta`` the shipping step needs (architecture, arguments, classes). Checkpoints are written to a
``.tmp`` file and renamed, so an interrupted run never leaves a half-written ``last.pt``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from voxforge.core.errors import ConfigError


def setup_torch(device: str, num_threads: int, seed: int) -> None:
    """Check ``device`` is usable, limit torch's CPU threads and seed its global generator.

    Raises:
        ConfigError: CUDA requested but absent.
    """
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but torch sees no CUDA device; use --device cpu")
    torch.set_num_threads(num_threads)
    torch.manual_seed(seed)


def lr_factor(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine from 1 to ``min_ratio`` at ``total``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def save_checkpoint(
    path: Path, model: nn.Module, opt: Any, sched: Any, state: dict, meta: dict, epoch: int
) -> None:
    """Write a run checkpoint (model, optimizer, scheduler, loop state, meta, epoch) atomically."""
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "state": dict(state), "meta": meta,
                "epoch": epoch}, tmp)  # fmt: skip
    tmp.replace(path)


def resume_checkpoint(
    run: Path, device: str, model: nn.Module, opt: Any, sched: Any, state: dict
) -> None:
    """Load ``run/last.pt`` into the model, optimizer, scheduler and ``state`` (in place).

    Raises:
        ConfigError: the run folder has no ``last.pt``.
    """
    ckpt_path = run / "last.pt"
    if not ckpt_path.is_file():
        raise ConfigError(f"{ckpt_path}: nothing to resume (no last.pt in the run folder)")
    ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    state.update(ckpt["state"])


def append_csv(path: Path, row: dict[str, float]) -> None:
    """Append ``row`` to the CSV log at ``path`` (header first when the file is new)."""
    new = not path.is_file()
    with path.open("a", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
