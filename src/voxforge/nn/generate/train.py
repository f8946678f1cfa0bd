"""Training the text-to-shape generator: the voxel VAE first, then the latent denoiser.

Both stages read the shared ModelNet10 set, keep only the training part of the classifier's split
(stratified, 15 % validation, seed 0, so no shape the evaluation generates for was seen) and write
a checkpoint per epoch, so a run cut short still leaves its last finished epoch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from voxforge.core.errors import ConfigError
from voxforge.nn.generate.captions import (
    ShapeAttributes,
    attribute_token,
    caption_with_words,
    class_terciles,
    measure_shape,
    shape_attributes,
)
from voxforge.nn.generate.models import (
    AttributeHead,
    LatentDenoiser,
    VoxelVAE,
    condition,
    cosine_alpha_bar,
)

log = logging.getLogger(__name__)


class GenerateTrainConfig(BaseModel):
    """Everything a generator training run depends on (written beside the weights)."""

    model_config = ConfigDict(extra="forbid")

    data: str = Field("../shared/data/modelnet10_vox30_train.npz", description="Shared voxel set (npz).")
    val_fraction: float = Field(
        0.15, gt=0, lt=1, description="Held-back share per class (the classifier's)."
    )
    split_seed: int = Field(0, description="Seed of the stratified split (the classifier's).")
    seed: int = Field(0, description="Seed of initialisation, batches and captions.")
    latent: int = Field(64, ge=8, le=512, description="Latent size of the VAE.")
    width: int = Field(16, ge=4, le=64, description="Channels of the VAE's first convolution.")
    vae_epochs: int = Field(8, ge=1)
    vae_batch: int = Field(32, ge=1)
    vae_lr: float = Field(1e-3, gt=0)
    vae_finetune_epochs: int = Field(6, ge=0, description="Epochs of a second, low-LR VAE phase.")
    vae_finetune_lr: float = Field(3e-4, gt=0, description="Starting LR of that phase (cosine to 0).")
    kl_weight: float = Field(0.05, ge=0, description="Weight of the KL term against the summed BCE.")
    pos_weight: float = Field(2.0, gt=0, description="BCE weight of filled cells (they are ~6 %).")
    captions_per_shape: int = Field(24, ge=1, description="Training sentences embedded per shape.")
    latent_copies: int = Field(
        8, ge=1, le=8, description="Dihedral copies of each shape whose latents train the denoiser."
    )
    text_encoder: str = Field("minilm-l6", description="Name in the text encoder registry.")
    prior_width: int = Field(256, ge=32)
    prior_blocks: int = Field(3, ge=1)
    prior_steps: int = Field(9000, ge=1, description="Optimiser steps of the denoiser.")
    prior_batch: int = Field(128, ge=1)
    prior_lr: float = Field(1e-3, gt=0)
    cond_drop: float = Field(0.1, ge=0, lt=1, description="Share of steps trained without a sentence.")
    conditioning: Literal["sentence", "sentence+class+attributes"] = Field(
        "sentence",
        description="What the denoiser reads: the sentence embedding alone, or beside it the "
        "prompt's class (one-hot) and the attribute token of the attribute head.",
    )
    head_steps: int = Field(3000, ge=1, description="Optimiser steps of the attribute head.")
    head_noise: float = Field(
        0.0,
        ge=0,
        description="Std of Gaussian noise added to each unit-length caption embedding (per "
        "dimension) while the attribute head trains, so sentences near a training caption in the "
        "encoder's space get its attribute words too.",
    )
    threads: int = Field(1, ge=1, description="torch CPU threads.")


@dataclass
class CaptionedSet:
    """Training shapes with their measured attributes."""

    voxels: np.ndarray  # (N, 32, 32, 32) uint8
    labels: np.ndarray  # (N,) int64
    classes: list[str]
    attributes: list[ShapeAttributes]
    train: np.ndarray  # indices of the training part
    val: np.ndarray  # indices of the held-back part


def captioned_set(cfg: GenerateTrainConfig) -> CaptionedSet:
    """Load the shared set, split it like the classifier, drop empty grids, measure attributes.

    Terciles are taken over the training part only, so held-back shapes never shape the words.
    """
    from voxforge.nn.datasets import load_voxel_set, stratified_split

    d = load_voxel_set(cfg.data)
    train, val = stratified_split(d.labels, cfg.val_fraction, cfg.split_seed)
    filled = d.voxels.reshape(len(d.voxels), -1).any(axis=1)
    train, val = train[filled[train]], val[filled[val]]
    measures = {int(i): measure_shape(d.voxels[i]) for i in np.flatnonzero(filled)}
    ter = class_terciles([measures[int(i)] for i in train], d.labels[train])
    attrs = [
        shape_attributes(measures[i], d.classes[d.labels[i]], ter[int(d.labels[i])])
        if i in measures
        else ShapeAttributes(d.classes[d.labels[i]])
        for i in range(len(d.labels))
    ]
    return CaptionedSet(d.voxels, d.labels, list(d.classes), attrs, train, val)


def dihedral(vox: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 z-quarter-turn / mirror copies of (..., X, Y, Z) grids (k in 0..7)."""
    out = np.rot90(vox, k % 4, axes=(-3, -2))
    return np.flip(out, axis=-3) if k >= 4 else out


def train_vae(
    cfg: GenerateTrainConfig, data: CaptionedSet, out: Path, model: VoxelVAE | None = None
) -> VoxelVAE:
    """Train the VAE on the training shapes (random dihedral copies); checkpoint to ``out``.

    Without ``model``: the main phase (``vae_epochs``, one-cycle schedule from scratch). With
    ``model``: the fine-tuning phase (``vae_finetune_epochs`` at ``vae_finetune_lr``, cosine decay).
    """
    main = model is None
    epochs, lr = (cfg.vae_epochs, cfg.vae_lr) if main else (cfg.vae_finetune_epochs, cfg.vae_finetune_lr)
    first = 0 if main else cfg.vae_epochs
    torch.manual_seed(cfg.seed + first)
    rng = np.random.default_rng(cfg.seed + first)
    model = VoxelVAE(cfg.latent, cfg.width) if model is None else model
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * int(np.ceil(len(data.train) / cfg.vae_batch))
    sched: torch.optim.lr_scheduler.LRScheduler = (
        torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.05)
        if main
        else torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    )
    pos_w = torch.tensor(cfg.pos_weight)
    val_x = torch.from_numpy(data.voxels[data.val[:: max(1, len(data.val) // 128)]].astype(np.float32))
    for epoch in range(first, first + epochs):
        model.train()
        t0, total, n = time.time(), 0.0, 0
        order = rng.permutation(data.train)
        for b in range(0, len(order), cfg.vae_batch):
            idx = order[b : b + cfg.vae_batch]
            x = np.stack(
                [
                    dihedral(data.voxels[i], int(k))
                    for i, k in zip(idx, rng.integers(0, 8, len(idx)), strict=True)
                ]
            )
            xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            logits, mu, logvar = model(xt)
            rec = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, xt, pos_weight=pos_w, reduction="sum"
            )
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss = (rec + cfg.kl_weight * kl) / len(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total, n = total + float(loss.detach()) * len(idx), n + len(idx)
        iou = vae_iou(model, val_x)
        log.info(
            "vae epoch %d loss %.1f val IoU %.3f (%.0f s)", epoch + 1, total / n, iou, time.time() - t0
        )
        print(
            f"vae epoch {epoch + 1} loss {total / n:.1f} val_iou {iou:.3f} {time.time() - t0:.0f}s",
            flush=True,
        )
        torch.save({"state": model.state_dict(), "epoch": epoch + 1, "val_iou": iou}, out)
    return model


@torch.no_grad()
def vae_iou(model: VoxelVAE, x: torch.Tensor, threshold: float = 0.5) -> float:
    """Mean IoU of the VAE's reconstructions (latent means) of grids ``x`` at ``threshold``."""
    model.eval()
    pred = torch.sigmoid(model.decode(model.encode(x)[0])) > threshold
    gt = x > 0.5
    inter = (pred & gt).flatten(1).sum(1).float()
    union = (pred | gt).flatten(1).sum(1).float().clamp(min=1)
    return float((inter / union).mean())


@torch.no_grad()
def encode_latents(model: VoxelVAE, voxels: np.ndarray, batch: int = 64) -> np.ndarray:
    """(N, 32, 32, 32) grids -> (N, latent) float32 latent means."""
    model.eval()
    out = [
        model.encode(torch.from_numpy(voxels[i : i + batch].astype(np.float32)))[0]
        for i in range(0, len(voxels), batch)
    ]
    return torch.cat(out).numpy()


def caption_table(data: CaptionedSet, per_shape: int, seed: int) -> tuple[list[str], np.ndarray]:
    """``per_shape`` training captions of every training shape: (sentences, (M,) shape index)."""
    texts, owner, _ = caption_words_table(data, per_shape, seed)
    return texts, owner


def caption_words_table(
    data: CaptionedSet, per_shape: int, seed: int
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """:func:`caption_table` plus each sentence's attribute token ((M, attributes), +1/-1/0)."""
    rng = np.random.default_rng(seed)
    texts, owner, tokens = [], [], []
    for i in data.train:
        for _ in range(per_shape):
            text, words = caption_with_words(data.attributes[int(i)], rng, "train")
            texts.append(text)
            owner.append(int(i))
            tokens.append(attribute_token(words))
    return texts, np.asarray(owner, dtype=np.int64), np.stack(tokens)


def train_attribute_head(
    cfg: GenerateTrainConfig, emb: np.ndarray, tokens: np.ndarray
) -> tuple[AttributeHead, float]:
    """Fit the attribute head on (caption embedding, said attribute words); returns it and its
    accuracy on the last 5 % of the captions (held out of its training)."""
    torch.manual_seed(cfg.seed + 3)
    rng = np.random.default_rng(cfg.seed + 3)
    x = torch.from_numpy(emb.astype(np.float32))
    y = torch.from_numpy(tokens.astype(np.int64) + 1)  # 0 low, 1 unsaid, 2 high
    order = torch.from_numpy(rng.permutation(len(x)))
    cut = int(0.95 * len(x))
    fit, held = order[:cut], order[cut:]
    head = AttributeHead(x.shape[1], tokens.shape[1])
    opt = torch.optim.AdamW(head.parameters(), lr=2e-3, weight_decay=1e-4)
    for _ in range(cfg.head_steps):
        pick = fit[torch.from_numpy(rng.integers(0, len(fit), 256))]
        xb = x[pick]
        if cfg.head_noise > 0:
            xb = xb + cfg.head_noise * torch.randn_like(xb)
        loss = torch.nn.functional.cross_entropy(head(xb).reshape(-1, 3), y[pick].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    head.eval()
    with torch.no_grad():
        acc = float((head(x[held]).argmax(-1) == y[held]).float().mean())
    print(f"attribute head held-out caption accuracy {acc:.4f}", flush=True)
    return head, acc


def train_prior(
    cfg: GenerateTrainConfig,
    latents: np.ndarray,
    text_emb: np.ndarray,
    owner: np.ndarray,
    out: Path,
) -> LatentDenoiser:
    """Train the denoiser on (normalised latent of a shape copy, one of its captions) pairs.

    ``latents`` is (N, copies, latent): every shape's dihedral copies, normalised; ``text_emb`` (M, D)
    the caption embeddings and ``owner`` (M,) the shape of each caption.
    """
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed + 1)
    model = LatentDenoiser(latents.shape[-1], text_emb.shape[1], cfg.prior_width, cfg.prior_blocks)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.prior_lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, cfg.prior_lr, total_steps=cfg.prior_steps, pct_start=0.02
    )
    lat = torch.from_numpy(latents.astype(np.float32))
    emb = torch.from_numpy(text_emb.astype(np.float32))
    own = torch.from_numpy(owner)
    t0, run = time.time(), 0.0
    for step in range(cfg.prior_steps):
        model.train()
        pick = torch.from_numpy(rng.integers(0, len(own), cfg.prior_batch))
        copy = torch.from_numpy(rng.integers(0, lat.shape[1], cfg.prior_batch))
        x0 = lat[own[pick], copy]
        c = emb[pick]
        drop = torch.from_numpy(rng.random(cfg.prior_batch) < cfg.cond_drop)
        c = torch.where(drop[:, None], model.null_text.expand_as(c), c)
        t = torch.rand(cfg.prior_batch)
        ab = cosine_alpha_bar(t)[:, None]
        noise = torch.randn_like(x0)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        loss = torch.nn.functional.mse_loss(model(xt, t, c), noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        run = 0.99 * run + 0.01 * float(loss.detach()) if step else float(loss.detach())
        if (step + 1) % 500 == 0:
            print(f"prior step {step + 1} loss {run:.4f} {time.time() - t0:.0f}s", flush=True)
            torch.save({"state": model.state_dict(), "step": step + 1}, out)
            if (step + 1) % 2500 == 0:
                torch.save(
                    {"state": model.state_dict(), "step": step + 1}, out.with_suffix(f".{step + 1}.pt")
                )
    torch.save({"state": model.state_dict(), "step": cfg.prior_steps}, out)
    return model


def dihedral_latents(model: VoxelVAE, voxels: np.ndarray, copies: int = 8) -> np.ndarray:
    """(N, 32, 32, 32) grids -> (N, copies, latent): latent means of the first ``copies`` of each
    grid's 8 dihedral copies (identity, quarter turns, then mirrored)."""
    return np.stack(
        [encode_latents(model, np.ascontiguousarray(dihedral(voxels, k))) for k in range(copies)], axis=1
    )


@torch.no_grad()
def best_threshold(model: VoxelVAE, voxels: np.ndarray) -> tuple[float, float]:
    """The occupancy threshold with the highest mean reconstruction IoU on ``voxels``: (t, IoU)."""
    model.eval()
    gt = torch.from_numpy(voxels > 0)
    prob = torch.cat(
        [
            torch.sigmoid(model.decode(model.encode(gt[i : i + 64].float())[0]))
            for i in range(0, len(gt), 64)
        ]
    )
    scores = {}
    for t in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6):
        pred = prob > t
        inter = (pred & gt).flatten(1).sum(1).float()
        union = (pred | gt).flatten(1).sum(1).float().clamp(min=1)
        scores[t] = float((inter / union).mean())
    t = max(scores, key=scores.__getitem__)
    return t, scores[t]


def architecture(cfg: GenerateTrainConfig, text_dim: int) -> dict[str, int]:
    """The sidecar's ``architecture`` entry (what :func:`load_generator` builds)."""
    return {
        "latent": cfg.latent,
        "width": cfg.width,
        "text_dim": text_dim,
        "prior_width": cfg.prior_width,
        "prior_blocks": cfg.prior_blocks,
    }


def caption_embeddings(
    cfg: GenerateTrainConfig, data: CaptionedSet, work: Path
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """The training captions, their shapes, attribute tokens and sentence embeddings (M, D).

    The embeddings are cached in ``work/captions.npz``; a cache made from other captions (another
    vocabulary or seed) raises ConfigError rather than being used.
    """
    from voxforge.nn.encoders.text import load_text_encoder

    caps = work / "captions.npz"
    texts, owner, tokens = caption_words_table(data, cfg.captions_per_shape, cfg.seed)
    if caps.is_file():
        z = np.load(caps)
        if list(z["texts"]) != texts:
            raise ConfigError(f"{caps} holds other captions than this config makes; remove it")
        emb = z["emb"].astype(np.float32)
    else:
        emb = load_text_encoder(cfg.text_encoder).encode(texts)
        np.savez(caps, emb=emb.astype(np.float16), owner=owner, texts=np.array(texts))
    return texts, owner, tokens, emb


def retrain_attribute_head(cfg: GenerateTrainConfig, base: Path, stem: Path, work: Path) -> Path:
    """Train a new attribute head on this config's captions into the generator at ``base``.

    The VAE and the denoiser of ``base`` are kept as they are: the denoiser reads the head's token
    (+1 / 0 / -1 on training captions whichever head made it), so a head trained on a richer
    vocabulary or with embedding noise changes what held-back words map to, not what the denoiser
    was trained on. Writes ``stem.safetensors`` / ``stem.json``.
    """
    from voxforge.nn.generate.generator import load_generator, save_generator

    torch.set_num_threads(cfg.threads)
    work.mkdir(parents=True, exist_ok=True)
    gen = load_generator(base)
    if gen.head is None:
        raise ConfigError(f"{base} is a sentence-only generator; it has no attribute head to retrain")
    data = captioned_set(cfg)
    texts, _, tokens, emb = caption_embeddings(cfg, data, work)
    head, acc = train_attribute_head(cfg, emb, tokens)
    info = dict(gen.info)
    info["training"] = dict(info.get("training", {}))
    old = dict(info["training"].get("config", {}))
    info["training"]["config"] = {**old, **cfg.model_dump(mode="json", include=_HEAD_FIELDS)}
    info["training"]["captions"] = len(texts)
    info["attribute_head_caption_accuracy"] = round(acc, 4)
    return save_generator(stem, gen.vae, gen.denoiser, gen.mean.numpy(), gen.std.numpy(), info, head)


_HEAD_FIELDS = {"captions_per_shape", "seed", "head_steps", "head_noise", "text_encoder"}
"""Config fields a head-only retraining changes (the rest describe the kept VAE and denoiser)."""


def train_generator(cfg: GenerateTrainConfig, stem: Path, work: Path) -> Path:
    """Run both stages and write ``stem.safetensors`` / ``stem.json``; checkpoints go to ``work``.

    A stage whose checkpoint in ``work`` is complete is not run again, so an interrupted run
    resumes at the stage it stopped in.
    """
    from voxforge.nn.generate.generator import save_generator

    torch.set_num_threads(cfg.threads)
    work.mkdir(parents=True, exist_ok=True)
    data = captioned_set(cfg)
    vae_ckpt = work / "vae.pt"
    vae = VoxelVAE(cfg.latent, cfg.width)
    state = torch.load(vae_ckpt) if vae_ckpt.is_file() else None
    if state is None or state["epoch"] < cfg.vae_epochs:
        vae, done = train_vae(cfg, data, vae_ckpt), cfg.vae_epochs
    else:
        vae.load_state_dict(state["state"])
        done = int(state["epoch"])
    if done < cfg.vae_epochs + cfg.vae_finetune_epochs:
        vae = train_vae(cfg, data, vae_ckpt, model=vae)
    vae.eval()
    _, owner, tokens, emb = caption_embeddings(cfg, data, work)
    head, head_acc = None, None
    cond = emb
    if cfg.conditioning != "sentence":
        head, head_acc = train_attribute_head(cfg, emb, tokens)
        e = torch.from_numpy(emb)
        cls = torch.from_numpy(data.labels[owner])
        cond = condition(e, cls, head.token(e), len(data.classes)).numpy()
    lat_file = work / "latents.npz"
    if lat_file.is_file():
        lat = np.load(lat_file)["latents"]
    else:
        lat = dihedral_latents(vae, data.voxels[data.train], cfg.latent_copies)
        np.savez(lat_file, latents=lat)
    mean, std = lat.reshape(-1, lat.shape[-1]).mean(0), lat.reshape(-1, lat.shape[-1]).std(0) + 1e-6
    row = {int(i): r for r, i in enumerate(data.train)}
    own_rows = np.array([row[int(i)] for i in owner], dtype=np.int64)
    denoiser = train_prior(cfg, (lat - mean) / std, cond, own_rows, work / "prior.pt")
    threshold, val_iou = best_threshold(vae, data.voxels[data.val])
    info = {
        "name": stem.name,
        "task": "text-to-shape",
        "architecture": architecture(cfg, cond.shape[1]),
        "conditioning": cfg.conditioning,
        "text_encoder": cfg.text_encoder,
        "threshold": threshold,
        "classes": data.classes,
        "grid": 32,
        "input": {"axes": "x, y, z (z up)", "object_cells": 24},
        "vae_validation_iou": round(val_iou, 4),
        "training": {
            "config": cfg.model_dump(mode="json"),
            "split": {
                "val_fraction": cfg.val_fraction,
                "split_seed": cfg.split_seed,
                "train": len(data.train),
                "val": len(data.val),
            },
            "captions": len(owner),
        },
    }
    if head_acc is not None:
        info["attribute_head_caption_accuracy"] = round(head_acc, 4)
    return save_generator(stem, vae, denoiser, mean, std, info, head)
