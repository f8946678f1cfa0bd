"""Fine-tune a featvox model end to end: the whole image encoder trains with the decoder.

Decoders trained on cached features (:mod:`voxforge.nn.reconstruct.featvox_train`) see the
encoder's ImageNet features as they are. Here the encoder (batch norms folded, so their statistics
stay fixed) trains together with the decoder on the render set's pictures, at
``encoder_lr_ratio`` times the decoder's learning rate, starting from a shipped featvox model.

Every step draws ``batch_objects`` (object, kind) pairs and ``views_per_object`` views of each;
the loss is featvox_train's: BCE + Dice of every view in its own yaw frame plus that of the
views' Pix2Vox fusion. Pictures change only in ways the targets follow: with ``mirror`` half the
objects have all their pictures mirrored left-right, their targets mirrored in y and their
azimuths negated (the mirrored object seen from the mirrored cameras, so its views still fuse);
``jitter`` scales the brightness and contrast of the photo-like pictures. The learning rate
follows featvox_train's warm-up and cosine; every ``eval_every_minutes`` (and before the first
step) the first view of every validation object is scored alone per kind, and the best image IoU
keeps the checkpoint (the render set's object split: never the test set).

``python -m voxforge.nn.reconstruct.finetune CONFIG.yaml`` trains
(``configs/reconstruction/featvox-e2e.yaml``); ``--ship STEM`` writes the best checkpoint as a
shipped model, the familiarity check refitted on the fine-tuned encoder's pooled features.
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
from voxforge.nn.reconstruct.featvox import FeatVoxNet, batch_iou, dice_bce, param_count
from voxforge.nn.reconstruct.featvox_train import (
    RunSchedule,
    export_featvox,
    familiarity_from_features,
    fuse_rows,
    learning_curve,
    lr_factor,
    optimiser_step,
    trainer_cli,
)
from voxforge.nn.reconstruct.renderset import RenderSet, load_render_set

log = logging.getLogger(__name__)

KINDS = ("image", "sketch")


class FinetuneConfig(RunSchedule):
    """An end-to-end fine-tuning run (``configs/reconstruction/featvox-e2e.yaml``)."""

    name: str = "reconstruction-featvox-e2e"
    init_from: Path = Field(
        Path("models/reconstruction-image.safetensors"),
        description="the shipped featvox model (.safetensors with its .json) to start from",
    )
    render_set: Path = Path("runs/renderset")
    kinds: list[str] = Field(default_factory=lambda: ["image", "sketch"])
    encoder_lr_ratio: float = Field(0.2, gt=0)
    views_per_object: int = Field(2, ge=2)
    fused_weight: float = Field(1.0, ge=0)
    mirror: bool = True
    jitter: float = Field(0.15, ge=0, le=0.5)
    val_objects: int | None = Field(None, ge=1, description="score the first N validation objects")
    lr: float = Field(5e-4, gt=0)
    max_minutes: float = Field(60.0, gt=0)
    eval_every_minutes: float = Field(10.0, gt=0)


class PictureSet:
    """A render set split's pictures grouped by object, for (object, kind) sampling."""

    def __init__(self, views: RenderSet, kinds: list[str]) -> None:
        bad = [k for k in kinds if k not in KINDS]
        if bad or not kinds:
            raise ConfigError(f"kinds must be image and/or sketch, got {kinds!r}")
        self.views = views
        self.kinds = list(kinds)
        starts = np.flatnonzero(np.diff(views.object_index)) + 1
        self.objects = np.split(np.arange(len(views)), starts)

    def sample(self, rng: np.random.Generator, objects: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """k * ``objects`` view rows and their kind numbers: the first views of every drawn
        (object, kind) pair, then the second views, ... (the layout of ``fuse_rows``)."""
        obj = rng.integers(len(self.objects), size=objects)
        kind = rng.integers(len(self.kinds), size=objects)
        rows = [rng.choice(self.objects[o], size=k, replace=len(self.objects[o]) < k) for o in obj]
        return np.stack(rows, axis=1).reshape(-1), np.tile(kind, k)

    def first_views(self) -> np.ndarray:
        """The first view row of every object."""
        return np.array([rows[0] for rows in self.objects], dtype=np.int64)

    def pictures(self, rows: np.ndarray, kinds: np.ndarray) -> torch.Tensor:
        """(B, 3, S, S) float pictures in [0, 1] of ``rows``, each of its kind number."""
        from voxforge.nn.reconstruct.models import images_to_tensor

        v = self.views
        out = np.empty((len(rows), *v.images.shape[1:]), np.uint8)
        for i, (r, kind) in enumerate(zip(rows, kinds, strict=True)):
            out[i] = v.images[r] if self.kinds[kind] == "image" else v.sketches[r][..., None]
        return images_to_tensor(out)


def augment(
    x: torch.Tensor, photo: np.ndarray, mirrored: np.ndarray, jitter: float, rng: np.random.Generator
) -> torch.Tensor:
    """Mirror the ``mirrored`` rows of (B, 3, S, S) pictures left-right and scale the brightness
    and contrast of the ``photo`` rows by up to ``jitter`` (about each picture's mean)."""
    x = torch.where(torch.from_numpy(mirrored)[:, None, None, None], x.flip(-1), x)
    if jitter > 0 and photo.any():
        n = len(x)
        gain = torch.from_numpy(rng.uniform(1 - jitter, 1 + jitter, n).astype(np.float32))
        shift = torch.from_numpy(rng.uniform(-jitter, jitter, n).astype(np.float32) * 0.5)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        y = ((x - mean) * gain.view(-1, 1, 1, 1) + mean + shift.view(-1, 1, 1, 1)).clamp(0, 1)
        x = torch.where(torch.from_numpy(photo)[:, None, None, None], y, x)
    return x


def load_start(path: Path) -> tuple[FeatVoxNet, dict[str, Any]]:
    """The encoder + decoder of the shipped featvox model at ``path`` (its .json beside it), the
    encoder's weights trainable, and the model's JSON."""
    from voxforge.nn.reconstruct.featvox import ARCH, load_featvox

    js = path.with_suffix(".json")
    if not path.is_file() or not js.is_file():
        raise ConfigError(f"{path}: no featvox model to fine-tune (needs .safetensors and .json)")
    info = json.loads(js.read_text())
    if info.get("architecture") != ARCH:
        raise ConfigError(f"{js}: architecture {info.get('architecture')!r}, not {ARCH}")
    if "refiner_args" in info:
        raise ConfigError(f"{path}: fine-tuning a model with a refiner is not supported")
    net = load_featvox(info, path, str(info.get("kind", "image"))).net
    for p in net.encoder.net.parameters():
        p.requires_grad_(True)
    return net, info


def _targets(views: RenderSet, rows: np.ndarray, mirrored: np.ndarray) -> torch.Tensor:
    t = views.targets(rows)
    t[mirrored] = t[mirrored][:, :, ::-1]  # the mirrored picture shows the object mirrored in y
    return torch.from_numpy(np.ascontiguousarray(t)).float()


def _step(net: FeatVoxNet, pics: PictureSet, rng: np.random.Generator, cfg: FinetuneConfig):
    k, b = cfg.views_per_object, cfg.batch_objects
    rows, kinds = pics.sample(rng, b, k)
    mirrored = np.tile(rng.random(b) < 0.5, k) if cfg.mirror else np.zeros(len(rows), bool)
    photo = np.array([pics.kinds[i] == "image" for i in kinds])
    x = augment(pics.pictures(rows, kinds), photo, mirrored, cfg.jitter, rng).to(cfg.device)
    target = _targets(pics.views, rows, mirrored).to(cfg.device)
    logits, scores = net(x)
    loss = dice_bce(logits, target, dice=cfg.dice)
    if cfg.fused_weight > 0:
        az = np.where(mirrored, -pics.views.azimuth[rows], pics.views.azimuth[rows])
        fused = fuse_rows(torch.sigmoid(logits), scores, az, k)
        loss = loss + cfg.fused_weight * dice_bce(None, target[:b], probs=fused, dice=cfg.dice)
    return loss


@torch.inference_mode()
def validate_pictures(
    net: FeatVoxNet, pics: PictureSet, threshold: float = 0.4, objects: int | None = None,
    batch: int = 64,
) -> dict[str, float]:  # fmt: skip
    """Single-view IoU on the first view of every (or the first ``objects``) validation object,
    per kind."""
    net.eval()
    device = str(next(net.decoder.parameters()).device)
    rows = pics.first_views()[:objects]
    target = pics.views.targets(rows)
    out: dict[str, float] = {}
    for k, name in enumerate(pics.kinds):
        ious = []
        for s in range(0, len(rows), batch):
            r = rows[s : s + batch]
            x = pics.pictures(r, np.full(len(r), k)).to(device)
            probs = torch.sigmoid(net(x)[0]).float().cpu().numpy()
            ious.append(batch_iou(probs, target[s : s + batch], threshold))
        out[name] = float(np.concatenate(ious).mean())
        out[f"{name}_views"] = len(rows)
    return out


def _save(net: FeatVoxNet, info: dict[str, Any], cfg: FinetuneConfig, step: int,
          scores: dict[str, float], path: Path) -> None:  # fmt: skip
    config = {**cfg.model_dump(mode="json"), "encoder": info.get("encoder", "efficientnet-lite0"),
              "encoder_size": info.get("encoder_size")}  # fmt: skip
    torch.save({"decoder": {k: v.cpu() for k, v in net.decoder.state_dict().items()},
                "tail": {k: v.cpu() for k, v in net.encoder.net.state_dict().items()},
                "args": net.decoder.arch_args, "step": step, "val": scores, "config": config},
               path.with_suffix(".tmp"))  # fmt: skip
    path.with_suffix(".tmp").replace(path)


def train_finetune(cfg: FinetuneConfig) -> Path:
    """Train; returns the run folder (``best.pt``: decoder and whole encoder state, args,
    validation; ``log.jsonl``, whose first row is the starting model's)."""
    from voxforge.nn.device import resolve_device

    cfg = cfg.model_copy(update={"device": resolve_device(cfg.device)})
    torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net, info = load_start(cfg.init_from)
    net.to(cfg.device)
    train = PictureSet(load_render_set(cfg.render_set, "train"), cfg.kinds)
    val = PictureSet(load_render_set(cfg.render_set, "val"), cfg.kinds)
    groups = [{"params": list(net.decoder.parameters()), "ratio": 1.0},
              {"params": list(net.encoder.net.parameters()), "ratio": cfg.encoder_lr_ratio}]  # fmt: skip
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    run = cfg.output_dir / cfg.name
    run.mkdir(parents=True, exist_ok=True)
    log.info("%d trainable parameters; %d train views of %d objects, %d val objects",
             param_count(net), len(train.views), len(train.objects), len(val.objects))  # fmt: skip
    t0 = time.perf_counter()
    next_eval, best, step, losses = 0.0, -1.0, 0, []
    with (run / "log.jsonl").open("a") as logf:
        while True:
            elapsed = (time.perf_counter() - t0) / 60
            done = elapsed >= cfg.max_minutes or (cfg.max_steps is not None and step >= cfg.max_steps)
            if elapsed >= next_eval or done:
                scores = validate_pictures(net, val, cfg.threshold, cfg.val_objects)
                row = {"step": step, "minutes": round(elapsed, 2),
                       "loss": float(np.mean(losses)) if losses else None, "val": scores}  # fmt: skip
                logf.write(json.dumps(row) + "\n")
                logf.flush()
                log.info("%s", row)
                key = scores.get("image", next(iter(scores.values())))
                if key > best:
                    best = key
                    _save(net, info, cfg, step, scores, run / "best.pt")
                losses = []
                next_eval = elapsed + cfg.eval_every_minutes
                if done:
                    break
            for g in opt.param_groups:
                g["lr"] = cfg.lr * g["ratio"] * lr_factor(cfg, elapsed, step)
            net.train()
            losses.append(optimiser_step(opt, _step(net, train, rng, cfg), net.parameters()))
            step += 1
    return run


@torch.inference_mode()
def pooled_features(net: FeatVoxNet, pics: PictureSet, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(N, C) pooled encoder features of every view of every kind, and their class labels."""
    net.eval()
    feats, labels = [], []
    rows = np.arange(len(pics.views))
    for k in range(len(pics.kinds)):
        for s in range(0, len(rows), batch):
            r = rows[s : s + batch]
            x = pics.pictures(r, np.full(len(r), k)).contiguous(memory_format=torch.channels_last)
            feats.append(net.encoder(x).pooled.float().numpy())
            labels.append(pics.views.labels[r])
    return np.concatenate(feats), np.concatenate(labels)


def ship_finetune(cfg: FinetuneConfig, stem: Path, *, kind: str = "image",
                  flip_tta: bool = True) -> tuple[Path, Path]:  # fmt: skip
    """Write the best checkpoint of ``cfg``'s run as a shipped model at ``stem``: the decoder, the
    whole fine-tuned encoder (``encoder.`` keys), the familiarity check fitted on the fine-tuned
    encoder's pooled features of the render set, the learning curve and ``flip_tta`` (calibrate
    the confidence afterwards: ``voxforge.nn.reconstruct.calibration``)."""
    from voxforge.nn.reconstruct.featvox import load_encoder_blocks

    run = cfg.output_dir / cfg.name
    if not (run / "best.pt").is_file():
        raise ConfigError(f"{run / 'best.pt'}: no checkpoint to ship (train first)")
    ckpt = torch.load(run / "best.pt", map_location="cpu", weights_only=False)
    net, _ = load_start(cfg.init_from)
    load_encoder_blocks(net.encoder, ckpt["tail"])
    net.decoder.load_state_dict(ckpt["decoder"])
    torch.set_num_threads(cfg.num_threads)
    train = PictureSet(load_render_set(cfg.render_set, "train"), cfg.kinds)
    val = PictureSet(load_render_set(cfg.render_set, "val"), cfg.kinds)
    (a, labels), (q, _) = pooled_features(net, train), pooled_features(net, val)
    known = familiarity_from_features(a, labels, len(train.views.classes), q)
    curve = learning_curve(run, cfg.kinds)
    extra = {"training_config": cfg.model_dump(mode="json"), "learning_curve": curve,
             "flip_tta": flip_tta, "encoder_finetuning": "end to end"}  # fmt: skip
    return export_featvox(run, stem, kind=kind, extra=extra, familiarity=known,
                          classes=train.views.classes)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    """``python -m voxforge.nn.reconstruct.finetune CONFIG [MAX_MINUTES] [--device D]``: train;
    ``... CONFIG --ship STEM [--kind image|sketch]``: export the run's best checkpoint."""
    trainer_cli("voxforge.nn.reconstruct.finetune", FinetuneConfig, train_finetune, ship_finetune, argv)


if __name__ == "__main__":
    main()
