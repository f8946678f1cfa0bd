"""Reconstruction training pieces on a tiny in-memory render set; one end-to-end run (slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from voxforge.core.errors import ConfigError
from voxforge.nn.recon_models import create_recon_model
from voxforge.nn.recon_train import (
    ReconAugmentConfig,
    ReconTrainConfig,
    augment_images,
    batch_loss,
    make_batch,
    surface_points,
    validation_report,
    validation_views,
)
from voxforge.nn.renderset import RenderSet, RenderSetConfig

TINY = {"encoder_widths": (4, 4, 8, 8, 8), "latent": 16, "voxel_widths": (4, 4, 4),
        "num_points": 64, "head_hidden": 16}  # fmt: skip


def fake_render_set(n_objects: int = 3, views: int = 5, seed: int = 0) -> RenderSet:
    """Boxes of growing height, ``views`` random images each, azimuths multiples of 90°."""
    rng = np.random.default_rng(seed)
    grids = np.zeros((n_objects, 32, 32, 32), bool)
    for i in range(n_objects):
        grids[i, 10:20, 8:24, 2 : 8 + 4 * i] = True
    n = n_objects * views
    images = rng.integers(0, 256, (n, 128, 128, 3), dtype=np.uint8)
    obj = np.repeat(np.arange(n_objects), views)
    return RenderSet(
        images=images, sketches=images[..., 0].copy(), masks=np.zeros((n, 128, 128), bool),
        azimuth=(90.0 * rng.integers(0, 4, n)).astype(np.float32),
        elevation=np.zeros(n, np.float32), cameras=np.zeros((n, 3, 4), np.float32),
        labels=obj % 2, object_index=obj + 100, objects=np.arange(n_objects) + 100, grids=grids,
        object_row=obj, classes=["a", "b"], config=RenderSetConfig(views=views),
    )  # fmt: skip


def _config(**kw: object) -> ReconTrainConfig:
    return ReconTrainConfig(name="t", model_args=TINY, **kw)  # type: ignore[arg-type]


def test_config_errors_are_one_line() -> None:
    with pytest.raises(ValueError, match="time_schedule needs max_minutes"):
        _config(time_schedule=True)
    with pytest.raises(ConfigError, match="unknown reconstruction model 'unet'"):
        _config(model="unet")


def test_surface_points_lie_on_the_box_shell() -> None:
    t = torch.zeros(1, 32, 32, 32)
    t[0, 8:24, 8:24, 8:24] = 1
    pts = surface_points(t, 2000, torch.Generator().manual_seed(0))
    cell = torch.floor((pts + 0.5) * 32).long()[0]
    assert ((cell >= 8) & (cell < 24)).all()
    on_shell = ((cell == 8) | (cell == 23)).any(dim=1)
    assert on_shell.all()


def test_validation_views_take_the_first_views_of_each_object() -> None:
    rs = fake_render_set(3, 5)
    assert validation_views(rs, 2).tolist() == [0, 1, 5, 6, 10, 11]


def test_flip_mirrors_image_and_target_together() -> None:
    rs = fake_render_set(3, 5)
    off = ReconAugmentConfig(brightness=0, contrast=0, saturation=0, grey=0, shift=0, scale=0)
    cfg = _config(augment=off)
    idx = np.arange(15)
    plain = make_batch(rs, idx, cfg, None, train=False)
    aug = make_batch(rs, idx, cfg, torch.Generator().manual_seed(3), train=True)
    flipped = 0
    for i in range(15):
        if torch.allclose(aug.images[i], plain.images[i], atol=1e-5):
            assert torch.equal(aug.targets[i], plain.targets[i])
        else:
            torch.testing.assert_close(aug.images[i], plain.images[i].flip(-1))
            assert torch.equal(aug.targets[i], plain.targets[i].flip(1))
            flipped += 1
    assert 0 < flipped < 15


def test_colour_augmentation_keeps_range_and_shape() -> None:
    x = torch.rand(4, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    y = augment_images(x, ReconAugmentConfig(), torch.Generator().manual_seed(1))
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1 and not torch.equal(x, y)


def test_batch_loss_terms() -> None:
    rs = fake_render_set()
    model = create_recon_model("reconnet", **TINY)
    cfg = _config()
    batch = make_batch(rs, np.arange(4), cfg, None, train=False)
    loss, terms = batch_loss(model, batch, cfg.loss)
    assert sorted(terms) == ["conf", "occ"]
    assert loss.item() == pytest.approx(terms["occ"] + 0.1 * terms["conf"], rel=1e-5)
    _, all_terms = batch_loss(model, batch, cfg.loss, surfaces=True)
    assert sorted(all_terms) == ["conf", "edge", "lap", "mesh", "normal", "occ", "pts"]


def test_validation_report_of_a_perfect_predictor() -> None:
    rs = fake_render_set(3, 5)

    class Oracle(torch.nn.Module):
        """Predicts the target of the view it is shown (images are looked up by identity)."""

        def __init__(self) -> None:
            super().__init__()
            self.lookup = {rs.images[i].tobytes(): i for i in range(len(rs))}

        def forward(self, x: torch.Tensor, heads: tuple[str, ...] = ()) -> object:
            pix = (x * 255).round().byte().permute(0, 2, 3, 1).numpy()
            idx = [self.lookup[p.tobytes()] for p in pix]
            logits = torch.from_numpy(rs.targets(idx)).float() * 20 - 10
            return type(
                "Out", (), {"voxel_logits": logits, "confidence_logits": torch.zeros_like(logits)}
            )

    rep = validation_report(Oracle(), rs, "image", threshold=0.5)
    assert rep["single_view"] == {"iou_0.3": 1.0, "iou_0.4": 1.0, "iou_0.5": 1.0, "dice": 1.0}
    assert rep["fused_5_views"]["objects"] == 3 and rep["fused_5_views"]["iou_0.5"] == 1.0
    assert rep["per_class_single_view_iou"] == {"a": 1.0, "b": 1.0}


@pytest.mark.slow
def test_train_and_ship_end_to_end(tmp_path: Path, tiny_npz: Path) -> None:
    import json

    from voxforge.nn.recon_train import ship_reconstruction, train_reconstruction
    from voxforge.nn.reconstruct import load_reconstructor
    from voxforge.nn.renderset import build_render_set

    rs_dir = build_render_set(tiny_npz, tmp_path / "rs", RenderSetConfig(views=2), workers=1)
    cfg = _config(data={"path": str(rs_dir)}, epochs=2, samples_per_epoch=16, batch_size=8,
                  warmup_epochs=0.0, surface_views=8, surface_epochs=1,
                  output_dir=str(tmp_path / "runs"))  # fmt: skip
    result = train_reconstruction(cfg)
    assert result.epochs_run == 2 and (result.run_dir / "best.pt").is_file()
    assert len((result.run_dir / "metrics.csv").read_text().splitlines()) == 3
    info = ship_reconstruction(result.run_dir, tmp_path / "m" / "reconstruction-image",
                               command="test", trained_on="test")  # fmt: skip
    assert json.loads((tmp_path / "m" / "reconstruction-image.json").read_text())["kind"] == "image"
    assert "## Validation metrics" in (tmp_path / "m" / "reconstruction-image.md").read_text()
    assert 0.0 <= info["validation"]["single_view"]["iou_0.5"] <= 1.0
    rec = load_reconstructor("image", tmp_path / "m" / "reconstruction-image.safetensors")
    assert rec.predict([np.full((128, 128, 3), 255, np.uint8)]).occupancy.shape == (32, 32, 32)
