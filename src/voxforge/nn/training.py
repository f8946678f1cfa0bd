"""The training loop parts every voxforge network shares: torch set-up, the learning-rate
schedule, run checkpoints, the ``metrics.csv`` log and data-parallel training over processes.

Distributed runs start through ``torchrun`` (``voxforge train ... --nodes N --procs-per-node M``
builds the command with :func:`torchrun_command`); each process reads its rank from torchrun's
environment (:func:`init_distributed`: gloo on CPU, nccl on CUDA), wraps its model in
DistributedDataParallel (:func:`wrap_model`), takes its contiguous share of every global batch
(:func:`shard`) and sums its loss counters with the others (:func:`all_sum`). Gradients are
averaged over equal shares, so a run matches the one-process run of the same global batch (up to
float rounding) for models without batch statistics or dropout. Only rank 0 writes the run folder.

A run folder holds ``config.yaml``, ``metrics.csv`` (one row per epoch or validation step) and
``.pt`` checkpoints with the model, optimizer, scheduler, the loop's ``state`` dict and the
``meta`` the shipping step needs (architecture, arguments, classes). Checkpoints are written to a
``.tmp`` file and renamed, so an interrupted run never leaves a half-written ``last.pt``.
"""

from __future__ import annotations

import csv
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
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


# --------------------------------------------------------------------------- data parallel


@dataclass(frozen=True)
class Dist:
    """This process's place in a data-parallel run (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes the run folder and reports progress."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str, environ: dict[str, str] | None = None) -> Dist:
    """Join the process group torchrun describes in ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``
    (gloo on CPU, nccl on CUDA); ``Dist()`` when the run is not distributed."""
    env = os.environ if environ is None else environ
    world = int(env.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    ctx = Dist(int(env["RANK"]), world, int(env.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        if device == "cuda":
            torch.cuda.set_device(ctx.local_rank)
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    return ctx


def check_global_batch(batch_size: int, ctx: Dist) -> int:
    """Each process's share of a global batch.

    Raises:
        ConfigError: ``batch_size`` does not split evenly over the processes.
    """
    if batch_size % ctx.world_size:
        raise ConfigError(
            f"batch_size {batch_size} does not split evenly over {ctx.world_size} processes; "
            "use a multiple of nodes x procs-per-node"
        )
    return batch_size // ctx.world_size


def shard(index: np.ndarray, ctx: Dist) -> np.ndarray:
    """This process's contiguous share of a global batch of sample indices (or tensor rows)."""
    n = len(index)
    return index[ctx.rank * n // ctx.world_size : (ctx.rank + 1) * n // ctx.world_size]


def wrap_model(
    model: nn.Module, ctx: Dist, device: str, *, find_unused_parameters: bool = False
) -> nn.Module:
    """``model`` in DistributedDataParallel when the run is distributed, else unchanged.

    ``find_unused_parameters``: for models whose heads are not all used in every step.
    """
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.local_rank] if device == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused_parameters)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (what checkpoints hold)."""
    return getattr(model, "module", model)


def all_sum(values: list[float], ctx: Dist, device: str = "cpu") -> list[float]:
    """``values`` summed over all processes (unchanged when not distributed)."""
    if not ctx.enabled:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return [float(v) for v in t.cpu()]


def all_max(value: float, ctx: Dist, device: str = "cpu") -> float:
    """The largest ``value`` over all processes (a decision every process takes alike)."""
    if not ctx.enabled:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def finish_distributed(ctx: Dist) -> None:
    """Leave the process group (rank 0 may still be writing; torchrun waits for it)."""
    if not ctx.enabled:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def distributed(device: str) -> Iterator[Dist]:
    """This process's place in a data-parallel run (:func:`init_distributed`) for the length of
    the block, and the process group left when it ends, also on an error."""
    ctx = init_distributed(device)
    try:
        yield ctx
    finally:
        finish_distributed(ctx)


def under_torchrun(environ: dict[str, str] | None = None) -> bool:
    """True inside a process torchrun started."""
    env = os.environ if environ is None else environ
    return "TORCHELASTIC_RUN_ID" in env or "LOCAL_RANK" in env


def torchrun_command(
    args: list[str],
    *,
    nodes: int = 1,
    procs_per_node: int = 1,
    node_rank: int = 0,
    master_addr: str = "127.0.0.1",
    master_port: int = 29500,
) -> list[str]:
    """The ``torchrun`` command running ``python -m voxforge ARGS`` on ``procs_per_node``
    processes of this node; one node is a standalone run, several meet at ``master_addr``.

    Raises:
        ConfigError: fewer than one node or process, or a node rank outside the nodes.
    """
    if nodes < 1 or procs_per_node < 1:
        raise ConfigError(f"--nodes {nodes} and --procs-per-node {procs_per_node} must be >= 1")
    if not 0 <= node_rank < nodes:
        raise ConfigError(f"--node-rank {node_rank} must be in 0..{nodes - 1}")
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={procs_per_node}"]
    if nodes == 1:
        cmd.append("--standalone")
    else:
        cmd += [f"--nnodes={nodes}", f"--node-rank={node_rank}",
                f"--master-addr={master_addr}", f"--master-port={master_port}"]  # fmt: skip
    return [*cmd, "-m", "voxforge", *args]
