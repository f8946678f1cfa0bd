"""Train the voxel decoder of :mod:`voxforge.nn.reconstruct.featvox` on cached encoder features.

Every step draws ``batch_objects`` (object, input kind) groups of the train split,
``views_per_object`` views of each, and minimises BCE + Dice of every single view (each in its own
yaw frame) plus BCE + Dice of their Pix2Vox fusion in the first view's frame (which trains the
score head). With ``finetune_encoder`` the encoder's blocks after the cached ``mid`` map train
too (:class:`~voxforge.nn.reconstruct.featvox.EncoderTail`, at ``encoder_lr_ratio`` times the
learning rate); ``init_from`` starts from a checkpoint or a shipped model's weights. The learning
rate follows a cosine over the wall-time budget; every ``eval_every_minutes`` the decoder is
scored on the first view of every validation object (the render set's object split: never the
test set) and the best checkpoint is kept. The feature cache may still be growing when training
starts: the cached shards are reloaded at each validation.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from voxforge.core.errors import ConfigError
from voxforge.nn.reconstruct.features import FEATURE_KEYS, FeatureSet, load_feature_set
from voxforge.nn.reconstruct.featvox import (
    CachedFeatureHead,
    EncoderTail,
    VoxelDecoder,
    batch_iou,
    check_decoder_args,
    dice_bce,
    fuse_views,
    param_count,
)
from voxforge.nn.reconstruct.renderset import view_targets

log = logging.getLogger(__name__)


class RunSchedule(BaseModel):
    """What the featvox trainers share: batch, optimiser, wall-clock or step schedule, loss,
    threshold, seed and where runs go."""

    model_config = ConfigDict(extra="forbid")

    batch_objects: int = Field(16, ge=1)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    warmup_minutes: float = Field(1.0, ge=0)
    min_lr_ratio: float = Field(0.05, ge=0, le=1)
    max_minutes: float = Field(40.0, gt=0)
    max_steps: int | None = Field(None, ge=1)
    eval_every_minutes: float = Field(4.0, gt=0)
    dice: float = Field(1.0, ge=0)
    threshold: float = Field(0.4, gt=0, lt=1)
    seed: int = Field(0, ge=0)
    num_threads: int = Field(1, ge=1)
    device: str = Field(
        "cpu", description="auto (CUDA, then Apple's MPS, then the CPU), cpu, cuda or mps."
    )
    output_dir: Path = Path("runs/reconstruction")


class FeatVoxConfig(RunSchedule):
    """A decoder training run (``configs/reconstruction/featvox.yaml``)."""

    name: str = "reconstruction-featvox"
    render_set: Path = Path("runs/renderset")
    data: Path | None = None
    features: Path = Path("runs/features/efficientnet-lite0")
    encoder: str = "efficientnet-lite0"
    encoder_size: int | None = Field(
        None, ge=32, le=1024, description="side the encoder resized the pictures to (the cache's)."
    )
    kinds: list[str] = Field(default_factory=lambda: ["image", "sketch"])
    decoder: dict[str, Any] = Field(default_factory=dict)
    init_from: Path | None = Field(
        None, description="best.pt of a run, or a shipped model's .safetensors, to start from."
    )
    finetune_encoder: bool = False
    encoder_lr_ratio: float = Field(0.1, gt=0)
    views_per_object: int = Field(2, ge=2)
    fused_weight: float = Field(1.0, ge=0)


class ViewPool:
    """Cached features of one split, all kinds, with (object, kind) groups for pair sampling."""

    def __init__(self, sets: dict[str, FeatureSet]) -> None:
        kinds = list(sets)
        self.kinds = kinds
        self.feats = {k: np.concatenate([sets[n].__dict__[k] for n in kinds]) for k in FEATURE_KEYS}
        self.azimuth = np.concatenate([sets[n].azimuth for n in kinds]).astype(np.float32)
        self.kind = np.concatenate([np.full(len(sets[n]), i) for i, n in enumerate(kinds)])
        self.view = np.concatenate([sets[n].view for n in kinds])
        first = sets[kinds[0]]
        self.grids = first.grids
        self.object_index = np.concatenate([sets[n].object_index for n in kinds])
        self.row = np.searchsorted(first.objects, self.object_index)
        self.labels = np.concatenate([sets[n].labels for n in kinds])
        self.classes = first.classes
        key = self.row * len(kinds) + self.kind
        order = np.argsort(key, kind="stable")
        bounds = np.flatnonzero(np.diff(key[order])) + 1
        groups = np.split(order, bounds)
        self.groups = [g for g in groups if len(g) >= 2]

    def __len__(self) -> int:
        return len(self.azimuth)

    def tensors(self, idx: np.ndarray, device: str = "cpu") -> list[torch.Tensor]:
        return [torch.from_numpy(self.feats[k][idx].astype(np.float32)).to(device) for k in FEATURE_KEYS]

    def targets(self, idx: np.ndarray) -> np.ndarray:
        return view_targets(self.grids[self.row[idx]], self.azimuth[idx])


def load_pool(cfg: FeatVoxConfig, split: str) -> ViewPool | None:
    """The cached features of ``cfg``'s kinds for the ``split`` objects (the shards cached so far;
    None when there is none)."""
    sets: dict[str, FeatureSet] = {}
    for kind in cfg.kinds:
        fs = load_feature_set(cfg.render_set, cfg.features, kind, split, partial=True, data_npz=cfg.data)
        if fs is not None and len(fs):
            sets[kind] = fs
    return ViewPool(sets) if sets else None


def lr_factor(cfg: RunSchedule, elapsed_min: float, step: int) -> float:
    """Linear warm-up, then a cosine over ``max_steps`` (or ``max_minutes`` of wall clock)."""
    if cfg.max_steps is not None:
        frac = step / cfg.max_steps
    else:
        frac = elapsed_min / cfg.max_minutes
    if elapsed_min < cfg.warmup_minutes:
        return max(elapsed_min / max(cfg.warmup_minutes, 1e-9), 0.02)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))


def optimiser_step(
    opt: torch.optim.Optimizer, loss: torch.Tensor, params: Any, clip: float = 2.0
) -> float:
    """Back-propagate ``loss``, clip the gradients of ``params`` to norm ``clip`` and step
    ``opt``; returns the loss value (the step every featvox trainer takes)."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()
    return float(loss.detach())


def sample_views(pool: ViewPool, rng: np.random.Generator, objects: int, k: int) -> np.ndarray:
    """k * ``objects`` view rows of random (object, kind) groups, k distinct views each where the
    group has them: the first views of all objects, then the second views, ..."""
    pick = rng.choice(len(pool.groups), size=objects, replace=len(pool.groups) < objects)
    views = [rng.choice(pool.groups[g], size=k, replace=len(pool.groups[g]) < k) for g in pick]
    return np.array(views).T.reshape(-1)


def _step(model: CachedFeatureHead, pool: ViewPool, rng: np.random.Generator, cfg: FeatVoxConfig):
    """The loss of one batch: every view alone plus the fusion of each object's views."""
    k, b = cfg.views_per_object, cfg.batch_objects
    idx = sample_views(pool, rng, b, k)
    target = torch.from_numpy(pool.targets(idx)).float().to(cfg.device)
    logits, scores = model(*pool.tensors(idx, cfg.device))
    loss = dice_bce(logits, target, dice=cfg.dice)
    if cfg.fused_weight > 0:
        fused = fuse_rows(torch.sigmoid(logits), scores, pool.azimuth[idx], k)
        loss = loss + cfg.fused_weight * dice_bce(None, target[:b], probs=fused, dice=cfg.dice)
    return loss


def fuse_rows(probs: torch.Tensor, scores: torch.Tensor, azimuths: np.ndarray, k: int) -> torch.Tensor:
    """(B, 32, 32, 32) fusion of the k views of B objects laid out as :func:`sample_views` gives
    them (k*B rows: first views, then second views, ...; ``azimuths`` the rows' degrees), in each
    object's first view's frame."""
    b = len(azimuths) // k
    az = torch.from_numpy(np.asarray(azimuths, np.float32)).to(probs.device).view(k, b)
    return fuse_views(probs.view(k, b, *probs.shape[1:]), scores.view(k, b, *scores.shape[1:]), az)


@torch.inference_mode()
def predict_pool(
    model: CachedFeatureHead | VoxelDecoder, pool: ViewPool, idx: np.ndarray, batch: int = 64
) -> np.ndarray:
    """(N, 32, 32, 32) float32 single-view probabilities of the pool's rows ``idx``."""
    model.eval()
    device = str(next(model.parameters()).device)
    out = []
    for s in range(0, len(idx), batch):
        logits, _ = model(*pool.tensors(idx[s : s + batch], device))
        out.append(torch.sigmoid(logits).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 32, 32, 32), np.float32)


def validate(
    model: CachedFeatureHead | VoxelDecoder, pool: ViewPool, threshold: float = 0.4
) -> dict[str, float]:
    """Single-view IoU on the first view of every validation object, per kind."""
    result = {}
    for k, name in enumerate(pool.kinds):
        idx = np.flatnonzero((pool.kind == k) & (pool.view == 0))
        probs = predict_pool(model, pool, idx)
        result[name] = float(batch_iou(probs, pool.targets(idx), threshold).mean())
        result[f"{name}_views"] = len(idx)
    return result


def nearest_feature_baseline(train: ViewPool, val: ViewPool, threshold: float = 0.4) -> dict[str, float]:
    """Single-view IoU of retrieval: each validation view (the first of each object) takes the
    target of the training view of the same kind whose pooled encoder feature is closest (cosine),
    per kind. Both targets are viewer-centred, so the retrieved grid needs no turning."""
    result = {}
    for k, name in enumerate(val.kinds):
        if name not in train.kinds:
            continue
        tk = train.kinds.index(name)
        ti = np.flatnonzero(train.kind == tk)
        vi = np.flatnonzero((val.kind == k) & (val.view == 0))
        a = train.feats["pooled"][ti].astype(np.float32)
        a /= np.linalg.norm(a, axis=1, keepdims=True) + 1e-9
        q = val.feats["pooled"][vi].astype(np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True) + 1e-9
        best = ti[np.argmax(q @ a.T, axis=1)]
        pred = train.targets(best).astype(np.float32)
        result[name] = float(batch_iou(pred, val.targets(vi), threshold).mean())
    return result


def train_featvox(cfg: FeatVoxConfig) -> Path:
    """Train; returns the run folder (``best.pt``: decoder state, args, validation; ``log.jsonl``)."""
    for kind in cfg.kinds:
        if kind not in ("image", "sketch"):
            raise ConfigError(f"kinds must be image and/or sketch, got {kind!r}")
    from voxforge.nn.device import resolve_device

    cfg = cfg.model_copy(update={"device": resolve_device(cfg.device)})
    torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    run = cfg.output_dir / cfg.name
    run.mkdir(parents=True, exist_ok=True)
    model = build_model(cfg)
    model.to(cfg.device)
    groups = [{"params": list(model.decoder.parameters()), "ratio": 1.0}]
    if model.tail is not None:
        groups.append({"params": list(model.tail.parameters()), "ratio": cfg.encoder_lr_ratio})
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    train, val = load_pool(cfg, "train"), load_pool(cfg, "val")
    if train is None or val is None:
        raise ConfigError(f"{cfg.features}: no cached features yet (voxforge.nn.reconstruct.features)")
    log.info(
        "decoder %d parameters (%d trainable in all); %d train views, %d val views",
        param_count(model.decoder),
        param_count(model),
        len(train),
        len(val),
    )
    t0 = time.perf_counter()
    next_eval = cfg.eval_every_minutes
    best, step, losses = -1.0, 0, []
    with (run / "log.jsonl").open("a") as logf:
        while True:
            elapsed = (time.perf_counter() - t0) / 60
            done = elapsed >= cfg.max_minutes or (cfg.max_steps is not None and step >= cfg.max_steps)
            if elapsed >= next_eval or done:
                scores = validate(model, val, cfg.threshold)
                row = {"step": step, "minutes": round(elapsed, 2), "train_views": len(train),
                       "loss": float(np.mean(losses)) if losses else None, "val": scores}  # fmt: skip
                logf.write(json.dumps(row) + "\n")
                logf.flush()
                log.info("%s", row)
                key = scores.get("image", next(iter(scores.values())))
                if key > best:
                    best = key
                    state = {k: v.cpu() for k, v in model.decoder.state_dict().items()}
                    tail = None if model.tail is None else {
                        k: v.cpu() for k, v in model.tail.encoder_state().items()
                    }  # fmt: skip
                    torch.save({"decoder": state, "tail": tail, "args": model.decoder.arch_args,
                                "step": step,
                                "val": scores, "config": cfg.model_dump(mode="json")},
                               run / "best.pt")  # fmt: skip
                losses = []
                next_eval = elapsed + cfg.eval_every_minutes
                if done:
                    break
                train, val = load_pool(cfg, "train") or train, load_pool(cfg, "val") or val
            for g in opt.param_groups:
                g["lr"] = cfg.lr * g["ratio"] * lr_factor(cfg, elapsed, step)
            model.train()
            losses.append(optimiser_step(opt, _step(model, train, rng, cfg), model.parameters()))
            step += 1
    return run


def widen_state(small: dict[str, torch.Tensor], decoder: VoxelDecoder) -> dict[str, torch.Tensor]:
    """``small``, a decoder state with narrower 3D ``widths``, fitted into ``decoder``'s shapes so
    that the wider decoder computes the same volumes: every old tensor fills the leading slice,
    new channels keep their fresh initialisation, and the weights from new channels into the next
    transposed convolution are zero (Net2Net-style widening; new channels then learn from there).
    The 8x8 lift path (``lift2d``, ``lift3d``), absent from a decoder without it, keeps its fresh
    initialisation and joins through zero weights the same way. A state of the same shapes comes
    back unchanged; any other mismatch raises KeyError."""
    own = decoder.state_dict()
    out = {}
    for k, big in own.items():
        if k not in small and k.startswith(("lift2d.", "lift3d.")):
            out[k] = big
            continue
        if k not in small:
            raise KeyError(f"{k} missing")
        old = small[k]
        if old.shape == big.shape:
            out[k] = old
            continue
        if old.ndim != big.ndim or any(a > b for a, b in zip(old.shape, big.shape, strict=True)):
            raise KeyError(f"{k}: shape {tuple(old.shape)} does not fit {tuple(big.shape)}")
        new = big.clone()
        if k.endswith("weight") and new.ndim == 5:  # ConvTranspose3d (in, out, k, k, k)
            new[old.shape[0] :] = 0.0
        new[tuple(slice(0, n) for n in old.shape)] = old
        out[k] = new
    return out


def build_model(cfg: FeatVoxConfig) -> CachedFeatureHead:
    """The decoder (and the encoder tail with ``finetune_encoder``), from ``init_from`` when set:
    a run's ``best.pt`` or a shipped model's ``.safetensors`` (its ``encoder.`` tensors, if any,
    start the tail)."""
    decoder = VoxelDecoder(**check_decoder_args(dict(cfg.decoder)))
    tail = None
    if cfg.finetune_encoder:
        from voxforge.nn.encoders.image import load_image_encoder

        tail = EncoderTail(load_image_encoder(cfg.encoder, cfg.encoder_size))
    if cfg.init_from is None:
        return CachedFeatureHead(decoder, tail)
    if not cfg.init_from.is_file():
        raise ConfigError(f"init_from {cfg.init_from}: no such checkpoint")
    if cfg.init_from.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = {k: v.float() for k, v in load_file(str(cfg.init_from)).items()}
        tuned = {k[8:]: v for k, v in state.items() if k.startswith("encoder.")}
        dec = {k: v for k, v in state.items() if not k.startswith(("encoder.", "familiarity."))}
    else:
        ckpt = torch.load(cfg.init_from, map_location="cpu", weights_only=False)
        dec, tuned = ckpt["decoder"], ckpt.get("tail") or {}
    try:
        decoder.load_state_dict(widen_state(dec, decoder))
        if tail is not None and tuned:
            own = tail.encoder_state()
            with torch.no_grad():
                for k, v in tuned.items():
                    own[k].copy_(v)
    except (RuntimeError, KeyError) as err:
        raise ConfigError(
            f"init_from {cfg.init_from}: does not fit ({str(err).splitlines()[0]})"
        ) from None
    return CachedFeatureHead(decoder, tail)


def export_featvox(
    run: Path,
    stem: Path,
    *,
    kind: str,
    extra: dict[str, Any] | None = None,
    familiarity: dict[str, np.ndarray] | None = None,
    classes: list[str] | None = None,
    refiner_run: Path | None = None,
) -> tuple[Path, Path]:
    """Write the best checkpoint of ``run`` as a shipped model (``<stem>.safetensors`` + ``.json``),
    with the :func:`fit_familiarity` result and the best refiner of ``refiner_run``
    (:mod:`voxforge.nn.reconstruct.refine`) when given."""
    from voxforge.nn.reconstruct.featvox import Familiarity, save_featvox

    ckpt = torch.load(run / "best.pt", map_location="cpu", weights_only=False)
    decoder = VoxelDecoder(**ckpt["args"])
    decoder.load_state_dict(ckpt["decoder"])
    cfg = ckpt["config"]
    info = {"threshold": cfg["threshold"], "checkpoint_step": ckpt["step"],
            "params_decoder": param_count(decoder), "validation_at_checkpoint": ckpt["val"],
            "training": {k: cfg[k] for k in ("seed", "lr", "batch_objects", "max_minutes", "kinds")},
            **(extra or {})}  # fmt: skip
    known = None
    if familiarity is not None:
        known = Familiarity(
            familiarity["centroids"],
            float(familiarity["threshold"]),
            list(classes or []),
            familiarity.get("mean"),
            familiarity.get("basis"),
            float(familiarity["residual_threshold"]) if "residual_threshold" in familiarity else None,
        )
    if cfg.get("encoder_size"):
        info["encoder_size"] = cfg["encoder_size"]
    refiner = None
    if refiner_run is not None:
        from voxforge.nn.reconstruct.refine import load_refiner

        refiner, row = load_refiner(refiner_run)
        info["refiner_checkpoint"] = {"step": row["step"], "validation": row["val"],
                                      "config": row["config"]}  # fmt: skip
    return save_featvox(decoder, stem, encoder=cfg["encoder"], kind=kind, extra=info,
                        familiarity=known, encoder_state=ckpt.get("tail"), refiner=refiner)  # fmt: skip


def ship_featvox(
    cfg: FeatVoxConfig,
    stem: Path,
    *,
    kind: str = "image",
    flip_tta: bool = True,
    refiner_run: Path | None = None,
) -> tuple[Path, Path]:
    """Export the best checkpoint of ``cfg``'s run as a shipped model at ``stem`` with the
    familiarity check fitted on its cached features, its validation learning curve,
    ``flip_tta`` and the refiner of ``refiner_run`` when given (calibrate the confidence
    afterwards: ``voxforge.nn.reconstruct.calibration``)."""
    run = cfg.output_dir / cfg.name
    train, val = load_pool(cfg, "train"), load_pool(cfg, "val")
    if train is None or val is None:
        raise ConfigError(f"{cfg.features}: no cached features to fit the familiarity check on")
    ckpt = torch.load(run / "best.pt", map_location="cpu", weights_only=False)
    if ckpt.get("tail"):  # the familiarity check sees the fine-tuned encoder's pooled features
        tail = build_model(cfg.model_copy(update={"init_from": run / "best.pt"})).tail
        assert tail is not None
        for pool in (train, val):
            pool.feats["pooled"] = tail_pooled(tail, pool)
    curve = learning_curve(run, cfg.kinds)
    extra = {"training_config": cfg.model_dump(mode="json"), "learning_curve": curve,
             "flip_tta": flip_tta}  # fmt: skip
    return export_featvox(run, stem, kind=kind, extra=extra, familiarity=fit_familiarity(train, val),
                          classes=train.classes, refiner_run=refiner_run)  # fmt: skip


@torch.inference_mode()
def tail_pooled(tail: EncoderTail, pool: ViewPool, batch: int = 256) -> np.ndarray:
    """(N, C) float16 pooled features of every view of ``pool`` through the fine-tuned tail."""
    tail.eval()
    out = []
    for s in range(0, len(pool), batch):
        mid = torch.from_numpy(pool.feats["mid"][s : s + batch].astype(np.float32))
        out.append(tail(mid)[1].numpy().astype(np.float16))
    return np.concatenate(out)


def learning_curve(run: Path, kinds: list[str]) -> list[dict[str, Any]]:
    """Step, minutes and validation IoU per kind of every row of a run's ``log.jsonl``."""
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line]
    return [{"step": r["step"], "minutes": r["minutes"],
             **{f"{k}_iou": round(float(r["val"][k]), 4) for k in kinds if k in r["val"]}}
            for r in rows]  # fmt: skip


def trainer_cli(prog: str, config_type: type[RunSchedule], train: Callable[[Any], Path],
                ship: Callable[..., tuple[Path, Path]], argv: list[str] | None) -> None:  # fmt: skip
    """The command line of the featvox trainers: ``CONFIG [MAX_MINUTES] [--device D]`` trains
    (``--device`` auto, cpu, cuda or mps overrides the config's); ``CONFIG --ship STEM [--kind
    image|sketch]`` exports the run's best checkpoint instead."""
    import argparse

    from voxforge.core.config import load_config

    ap = argparse.ArgumentParser(prog=prog)
    ap.add_argument("config")
    ap.add_argument("max_minutes", nargs="?", type=float)
    ap.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    ap.add_argument("--ship", type=Path, help="Export the best checkpoint to this stem.")
    ap.add_argument("--kind", choices=("image", "sketch"), default="image")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    overrides: dict[str, Any] = {} if a.max_minutes is None else {"max_minutes": a.max_minutes}
    if a.device:
        overrides["device"] = a.device
    cfg = load_config(config_type, a.config, overrides)
    print(ship(cfg, a.ship, kind=a.kind) if a.ship is not None else train(cfg))


def main(argv: list[str] | None = None) -> None:
    """``python -m voxforge.nn.reconstruct.featvox_train CONFIG [MAX_MINUTES] [--device D]``:
    train one run; ``... CONFIG --ship STEM [--kind image|sketch]``: export the run's best
    checkpoint instead (:func:`ship_featvox`)."""
    prog = "voxforge.nn.reconstruct.featvox_train"
    trainer_cli(prog, FeatVoxConfig, train_featvox, ship_featvox, argv)


def fit_familiarity(
    train: ViewPool, val: ViewPool, quantile: float = 0.02, components: int = 32, seed: int = 0
) -> dict[str, np.ndarray]:
    """:func:`familiarity_from_features` of the pools' cached pooled features."""
    return familiarity_from_features(train.feats["pooled"], train.labels, len(train.classes),
                                     val.feats["pooled"], quantile, components, seed)  # fmt: skip


def familiarity_from_features(
    train_pooled: np.ndarray,
    train_labels: np.ndarray,
    num_classes: int,
    val_pooled: np.ndarray,
    quantile: float = 0.02,
    components: int = 32,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """The familiarity check of :class:`voxforge.nn.reconstruct.featvox.Familiarity` from the
    L2-normalised pooled features of the training views (all kinds): class centroids, the
    mean and first ``components`` principal directions (of a seeded 8,000-view sample), and both
    thresholds at the ``quantile`` of the validation views (so about that share of known-class
    validation views is called unfamiliar)."""
    a = train_pooled.astype(np.float32)
    a /= np.linalg.norm(a, axis=1, keepdims=True) + 1e-9
    cent = np.stack([a[train_labels == c].mean(axis=0) for c in range(num_classes)])
    cent /= np.linalg.norm(cent, axis=1, keepdims=True) + 1e-9
    q = val_pooled.astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True) + 1e-9
    best = (q @ cent.T).max(axis=1)
    mean = a.mean(axis=0)
    rng = np.random.default_rng(seed)
    sample = a[rng.choice(len(a), size=min(8000, len(a)), replace=False)] - mean
    basis = np.linalg.svd(sample, full_matrices=False)[2][:components]
    d = q - mean
    residual = np.linalg.norm(d - (d @ basis.T) @ basis, axis=1)
    return {"centroids": cent.astype(np.float32), "threshold": np.float32(np.quantile(best, quantile)),
            "mean": mean.astype(np.float32), "basis": basis.astype(np.float32),
            "residual_threshold": np.float32(np.quantile(residual, 1.0 - quantile))}  # fmt: skip


if __name__ == "__main__":
    main()
