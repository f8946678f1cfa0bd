"""Train the refiner of a featvox model (:class:`~voxforge.nn.reconstruct.featvox.VoxelRefiner`).

The decoder of a finished featvox run stays frozen; its volumes for the cached features of the
training views (one view, or 2 to ``max_views`` views fused) are the refiner's inputs and the
object's grid in the first view's frame its target, so the refiner learns to correct the
decoder's own mistakes (Pix2Vox-A's refiner stage). Validation scores the first view of every
validation object alone, refined and not, and ``fused_views`` views fused on the first
``fused_objects`` validation objects; the checkpoint is the best mean of the refined single-view
and fused image IoU.

``python -m voxforge.nn.reconstruct.refine CONFIG.yaml`` trains (``configs/reconstruction/
featvox-refine.yaml``); ``--ship STEM`` writes the decoder's shipped model with the refiner in it.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field

from voxforge.core.errors import ConfigError
from voxforge.nn.reconstruct.featvox import (
    VoxelDecoder,
    VoxelRefiner,
    batch_iou,
    dice_bce,
    param_count,
)
from voxforge.nn.reconstruct.featvox_train import (
    FeatVoxConfig,
    RunSchedule,
    ViewPool,
    fuse_rows,
    load_pool,
    lr_factor,
    optimiser_step,
    sample_views,
)

log = logging.getLogger(__name__)


class RefinerConfig(RunSchedule):
    """A refiner training run over a finished featvox run's decoder."""

    name: str = "reconstruction-featvox-refiner"
    decoder_config: Path = Field(description="the featvox run's YAML config (its best.pt is used)")
    widths: list[int] = Field(default_factory=lambda: [8, 24, 48, 96])
    init_from: Path | None = Field(None, description="a refiner run's best.pt to start from")
    max_views: int = Field(5, ge=1)
    fused_views: int = Field(5, ge=2)
    fused_objects: int = Field(150, ge=1)
    batch_objects: int = Field(12, ge=1)
    lr: float = Field(1e-3, gt=0)
    max_minutes: float = Field(30.0, gt=0)
    eval_every_minutes: float = Field(5.0, gt=0)


def load_decoder(decoder_cfg: FeatVoxConfig) -> VoxelDecoder:
    """The frozen decoder of the featvox run ``decoder_cfg`` (its ``best.pt``)."""
    path = decoder_cfg.output_dir / decoder_cfg.name / "best.pt"
    if not path.is_file():
        raise ConfigError(f"{path}: no featvox checkpoint to refine (train the decoder first)")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if ckpt.get("tail"):
        raise ConfigError(f"{path}: refining a decoder with a fine-tuned encoder is not supported")
    decoder = VoxelDecoder(**ckpt["args"])
    decoder.load_state_dict(ckpt["decoder"])
    for p in decoder.parameters():
        p.requires_grad_(False)
    return decoder.eval()


@torch.no_grad()
def decoded(decoder: VoxelDecoder, pool: ViewPool, idx: np.ndarray, k: int, device: str) -> torch.Tensor:
    """(B, 32, 32, 32) probabilities of B objects from ``idx`` (k*B rows: first views, then second
    views, ...): the first views alone for k = 1, else the k views fused in the first view's frame."""
    logits, scores = decoder(*pool.tensors(idx, device))
    probs = torch.sigmoid(logits)
    return probs if k == 1 else fuse_rows(probs, scores, pool.azimuth[idx], k)


def validate_refiner(
    decoder: VoxelDecoder, refiner: VoxelRefiner, pool: ViewPool, cfg: RefinerConfig
) -> dict[str, float]:
    """Single-view IoU per kind (first views), refined and raw, and the image IoU of
    ``fused_views`` views fused on the first ``fused_objects`` image objects."""
    refiner.eval()
    out: dict[str, float] = {}
    with torch.no_grad():
        for kk, name in enumerate(pool.kinds):
            idx = np.flatnonzero((pool.kind == kk) & (pool.view == 0))
            raw, ref = [], []
            for s in range(0, len(idx), 64):
                p = decoded(decoder, pool, idx[s : s + 64], 1, cfg.device)
                raw.append(p.cpu().numpy())
                ref.append(torch.sigmoid(refiner(p)).cpu().numpy())
            target = pool.targets(idx)
            out[name] = float(batch_iou(np.concatenate(ref), target, cfg.threshold).mean())
            out[f"{name}_raw"] = float(batch_iou(np.concatenate(raw), target, cfg.threshold).mean())
        if "image" in pool.kinds:
            kk = pool.kinds.index("image")
            groups = [g for g in pool.groups if pool.kind[g[0]] == kk and len(g) >= cfg.fused_views]
            groups = sorted(groups, key=lambda g: int(pool.row[g[0]]))[: cfg.fused_objects]
            if groups:
                k = cfg.fused_views
                idx = np.array([np.sort(g)[:k] for g in groups]).T.reshape(-1)
                target = pool.targets(idx[: len(groups)])
                raw, ref = [], []
                for s in range(0, len(groups), 16):
                    cols = np.arange(s, min(s + 16, len(groups)))
                    rows = (np.arange(k)[:, None] * len(groups) + cols[None, :]).reshape(-1)
                    p = decoded(decoder, pool, idx[rows], k, cfg.device)
                    raw.append(p.cpu().numpy())
                    ref.append(torch.sigmoid(refiner(p)).cpu().numpy())
                out["image_fused"] = float(batch_iou(np.concatenate(ref), target, cfg.threshold).mean())
                out["image_fused_raw"] = float(
                    batch_iou(np.concatenate(raw), target, cfg.threshold).mean()
                )
    return out


def _score(val: dict[str, float]) -> float:
    return 0.5 * (val.get("image", 0.0) + val.get("image_fused", val.get("image", 0.0)))


def train_refiner(cfg: RefinerConfig) -> Path:
    """Train; returns the run folder (``best.pt``: refiner state and args, validation; ``log.jsonl``)."""
    from voxforge.core.config import load_config

    dcfg = load_config(FeatVoxConfig, cfg.decoder_config)
    torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    decoder = load_decoder(dcfg).to(cfg.device)
    refiner = VoxelRefiner(cfg.widths)
    if cfg.init_from is not None:
        if not cfg.init_from.is_file():
            raise ConfigError(f"init_from {cfg.init_from}: no such checkpoint")
        refiner.load_state_dict(torch.load(cfg.init_from, map_location="cpu")["refiner"])
    refiner.to(cfg.device)
    train, val = load_pool(dcfg, "train"), load_pool(dcfg, "val")
    if train is None or val is None:
        raise ConfigError(f"{dcfg.features}: no cached features (voxforge.nn.reconstruct.features)")
    opt = torch.optim.AdamW(refiner.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    run = cfg.output_dir / cfg.name
    run.mkdir(parents=True, exist_ok=True)
    log.info("refiner %d parameters; %d train views, %d val views", param_count(refiner),
             len(train), len(val))  # fmt: skip
    t0, next_eval, best, step, losses = time.perf_counter(), 0.0, -1.0, 0, []
    with (run / "log.jsonl").open("a") as logf:
        while True:
            elapsed = (time.perf_counter() - t0) / 60
            done = elapsed >= cfg.max_minutes or (cfg.max_steps is not None and step >= cfg.max_steps)
            if elapsed >= next_eval or done:
                scores = validate_refiner(decoder, refiner, val, cfg)
                row = {"step": step, "minutes": round(elapsed, 2),
                       "loss": float(np.mean(losses)) if losses else None, "val": scores}  # fmt: skip
                logf.write(json.dumps(row) + "\n")
                logf.flush()
                log.info("%s", row)
                if _score(scores) > best:
                    best = _score(scores)
                    torch.save({"refiner": {k: v.cpu() for k, v in refiner.state_dict().items()},
                                "args": refiner.arch_args, "step": step, "val": scores,
                                "config": cfg.model_dump(mode="json")}, run / "best.pt")  # fmt: skip
                losses, next_eval = [], elapsed + cfg.eval_every_minutes
                if done:
                    break
            for g in opt.param_groups:
                g["lr"] = cfg.lr * lr_factor(cfg, elapsed, step)
            refiner.train()
            k = int(rng.integers(1, cfg.max_views + 1))
            idx = sample_views(train, rng, cfg.batch_objects, k)
            target = torch.from_numpy(train.targets(idx[: cfg.batch_objects])).float().to(cfg.device)
            inputs = decoded(decoder, train, idx, k, cfg.device)
            loss = dice_bce(refiner(inputs), target, dice=cfg.dice)
            losses.append(optimiser_step(opt, loss, refiner.parameters()))
            step += 1
    return run


def load_refiner(run: Path) -> tuple[VoxelRefiner, dict[str, Any]]:
    """The best refiner of a run folder and its checkpoint's validation row."""
    ckpt = torch.load(run / "best.pt", map_location="cpu", weights_only=False)
    refiner = VoxelRefiner(**ckpt["args"])
    refiner.load_state_dict(ckpt["refiner"])
    return refiner.eval(), {"step": ckpt["step"], "val": ckpt["val"], "config": ckpt["config"]}


def main(argv: list[str] | None = None) -> None:
    """``python -m voxforge.nn.reconstruct.refine CONFIG [--ship STEM]``."""
    import argparse

    from voxforge.core.config import load_config

    ap = argparse.ArgumentParser(prog="python -m voxforge.nn.reconstruct.refine")
    ap.add_argument("config")
    ap.add_argument("--ship", help="write the decoder's shipped model with this refiner at STEM")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = load_config(RefinerConfig, args.config)
    if args.ship:
        from voxforge.nn.reconstruct.featvox_train import ship_featvox

        dcfg = load_config(FeatVoxConfig, cfg.decoder_config)
        print(ship_featvox(dcfg, Path(args.ship), refiner_run=cfg.output_dir / cfg.name))
        return
    print(train_refiner(cfg))


if __name__ == "__main__":
    main()
