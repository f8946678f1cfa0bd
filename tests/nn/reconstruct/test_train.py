"""Reconstruction training pieces on a tiny in-memory render set; one end-to-end run (slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from voxforge.core.errors import ConfigError
from voxforge.nn.reconstruct.models import create_recon_model
from voxforge.nn.reconstruct.renderset import RenderSet, RenderSetConfig, rotate_grids, view_targets
from voxforge.nn.reconstruct.train import (
    ReconAugmentConfig,
    ReconTrainConfig,
    augment_images,
    azimuth_metrics,
    batch_loss,
    load_weights,
    make_batch,
    surface_points,
    validate,
    validation_report,
    validation_views,
)

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


# --------------------------------------------------------------------------- object frame

OBJ = {**TINY, "azimuth_bins": 72}
NO_JITTER = ReconAugmentConfig(brightness=0, contrast=0, saturation=0, grey=0, shift=0, scale=0)


def _object_config(**kw: object) -> ReconTrainConfig:
    return ReconTrainConfig(name="t", frame="object", model_args=OBJ, **kw)  # type: ignore[arg-type]


def test_object_frame_needs_an_azimuth_head() -> None:
    with pytest.raises(ValueError, match="frame 'object' needs an azimuth head"):
        _config(frame="object")
    assert _object_config().frame == "object" and _config().frame == "view"


def test_object_frame_targets_and_flip() -> None:
    rs = fake_render_set(3, 5)
    for i in range(3):  # a post at +y makes every object asymmetric in y
        rs.grids[i, 12:16, 20:24, 8:20] = True
    cfg = _object_config(augment=NO_JITTER)
    idx = np.arange(15)
    plain = make_batch(rs, idx, cfg, None, train=False)
    assert torch.equal(plain.targets, torch.from_numpy(rs.grids[rs.object_row]).float())
    torch.testing.assert_close(plain.azimuth, torch.from_numpy(rs.azimuth))
    aug = make_batch(rs, idx, cfg, torch.Generator().manual_seed(3), train=True)
    flipped = 0
    for i in range(15):
        if torch.allclose(aug.images[i], plain.images[i], atol=1e-5):
            assert torch.equal(aug.targets[i], plain.targets[i]) and aug.azimuth[i] == plain.azimuth[i]
            continue
        flipped += 1
        torch.testing.assert_close(aug.images[i], plain.images[i].flip(-1))
        assert torch.equal(aug.targets[i], plain.targets[i].flip(1))  # the object mirrored in y
        assert float(aug.azimuth[i]) == pytest.approx((-float(plain.azimuth[i])) % 360.0)
        # seen from -a, the mirrored object is the flipped view: its view-frame target is the
        # original view target mirrored in y (what the view-frame recipe trains on)
        seen = view_targets(aug.targets[i : i + 1].bool().numpy(), aug.azimuth[i : i + 1].numpy())
        view = rs.targets([i])
        assert np.array_equal(seen[0], view[0][:, ::-1])
        assert not np.array_equal(view[0], view[0][:, ::-1])
    assert 0 < flipped < 15


@pytest.mark.parametrize("azimuth", [30.0, 125.0, 250.0])
def test_flipped_render_is_the_mirrored_object_from_minus_the_azimuth(azimuth: float) -> None:
    """The flip convention checked on renders: a view of the object at azimuth a, flipped left to
    right, is the view of the object mirrored in y (grid axis 1) at azimuth -a."""
    from voxforge.nn.reconstruct.renderset import _render_one, smooth_mesh

    g = np.zeros((30, 30, 30), np.uint8)
    g[11:19, 3:27, 3:9] = 1  # a slab long in y with a post at +y and a fin at +x
    g[11:19, 20:27, 9:27] = 1
    g[19:27, 5:9, 3:14] = 1
    cfg = RenderSetConfig(elevation_deg=(20.0, 20.0))
    mesh, mirrored = smooth_mesh(g), smooth_mesh(g[:, ::-1].copy())

    def mask(m: tuple[np.ndarray, np.ndarray], a: float) -> np.ndarray:
        return _render_one(*m, a, 20.0, np.random.default_rng(0), cfg, 96)[1]

    def iou2(a: np.ndarray, b: np.ndarray) -> float:
        return float((a & b).sum() / (a | b).sum())

    flipped = mask(mesh, azimuth)[:, ::-1]
    assert iou2(flipped, mask(mirrored, -azimuth)) > 0.97
    assert iou2(flipped, mask(mirrored, azimuth)) < 0.9  # the other sign is wrong
    assert iou2(flipped, mask(mesh, -azimuth)) < 0.9  # and so is not mirroring


def test_mirroring_commutes_with_turning_like_the_flip_says() -> None:
    """M_y R(-a) G == R(a) M_y G on grids (exact at right angles, nearly so elsewhere)."""
    g = fake_render_set(1, 1).grids.copy()
    g[0, 12:16, 20:24, 8:20] = True
    for a in (0.0, 90.0, 180.0, 270.0, 37.0):
        view_flipped = rotate_grids(g, -a)[:, :, ::-1]
        mirrored_seen = rotate_grids(g[:, :, ::-1], a)
        agree = (view_flipped == mirrored_seen).mean()
        assert agree == 1.0 if a % 90 == 0 else agree > 0.995


def test_batch_loss_has_an_azimuth_term_in_the_object_frame() -> None:
    rs = fake_render_set()
    torch.manual_seed(0)
    model = create_recon_model("reconnet", **OBJ)
    cfg = _object_config()
    batch = make_batch(rs, np.arange(4), cfg, None, train=False)
    loss, terms = batch_loss(model, batch, cfg.loss)
    assert sorted(terms) == ["az", "conf", "occ"]
    assert terms["az"] == pytest.approx(np.log(72), rel=0.05)  # untrained: about uniform
    assert loss.item() == pytest.approx(terms["occ"] + 0.1 * terms["conf"] + 0.5 * terms["az"], rel=1e-5)
    loss.backward()
    assert model.azimuth.mlp[-1].weight.grad.abs().sum() > 0


def test_init_from_a_view_frame_checkpoint_starts_the_azimuth_head_fresh(tmp_path: Path) -> None:
    torch.manual_seed(0)
    old = create_recon_model("reconnet", **TINY)
    torch.save({"model": old.state_dict()}, tmp_path / "best.pt")
    new = create_recon_model("reconnet", **OBJ)
    head = new.azimuth.mlp[0].weight.clone()
    load_weights(new, tmp_path / "best.pt")
    torch.testing.assert_close(new.encoder.fc[1].weight, old.encoder.fc[1].weight)
    torch.testing.assert_close(new.azimuth.mlp[0].weight, head)
    other = create_recon_model("reconnet", **{**TINY, "latent": 8})
    with pytest.raises(ConfigError, match="weights do not fit"):
        load_weights(other, tmp_path / "best.pt")
    torch.save({"model": {**old.state_dict(), "extra.weight": torch.zeros(1)}}, tmp_path / "x.pt")
    with pytest.raises(ConfigError, match=r"unexpected keys: extra\.weight"):
        load_weights(create_recon_model("reconnet", **TINY), tmp_path / "x.pt")
    del_enc = {k: v for k, v in old.state_dict().items() if not k.startswith("encoder.fc")}
    torch.save({"model": del_enc}, tmp_path / "y.pt")
    with pytest.raises(ConfigError, match=r"missing or unexpected keys: encoder\.fc"):
        load_weights(new, tmp_path / "y.pt")


class ObjectOracle(torch.nn.Module):
    """Predicts the object's own grid and the true camera azimuth (+ ``offset`` degrees) of the
    view it is shown (images looked up by identity)."""

    def __init__(self, rs: RenderSet, offset: float = 0.0) -> None:
        super().__init__()
        self.rs, self.offset = rs, offset
        self.lookup = {rs.images[i].tobytes(): i for i in range(len(rs))}

    def forward(self, x: torch.Tensor, heads: tuple[str, ...] = ()) -> object:
        from voxforge.nn.reconstruct.models import azimuth_soft_labels

        pix = (x * 255).round().byte().permute(0, 2, 3, 1).numpy()
        idx = [self.lookup[p.tobytes()] for p in pix]
        logits = torch.from_numpy(self.rs.grids[self.rs.object_row[idx]]).float() * 20 - 10
        az = torch.from_numpy(self.rs.azimuth[idx]) + self.offset
        az_logits = torch.log(azimuth_soft_labels(az, 72, 1.0).clamp_min(1e-30))
        return type("Out", (), {"voxel_logits": logits, "confidence_logits": torch.zeros_like(logits),
                                "azimuth_logits": az_logits})  # fmt: skip


def test_object_frame_validation_is_scored_in_the_view_frame() -> None:
    rs = fake_render_set(3, 5)
    for i in range(3):
        rs.grids[i, 12:16, 20:24, 8:20] = True  # asymmetric: a wrong azimuth costs IoU
    cfg = _object_config()
    va = validate(ObjectOracle(rs), rs, np.arange(15), cfg)
    assert va["iou_0.5"] == pytest.approx(1.0) and va["iou_obj"] == 1.0 and va["az_acc15"] == 1.0
    off = validate(ObjectOracle(rs, 180.0), rs, np.arange(15), cfg)
    assert off["iou_0.5"] < 0.8 and off["iou_obj"] == 1.0
    assert off["az_acc15"] == 0.0 and off["az_acc15_mod180"] == 1.0
    rep = validation_report(ObjectOracle(rs), rs, "image", threshold=0.5, frame="object")
    assert rep["single_view"]["iou_0.5"] == pytest.approx(1.0, abs=1e-4)
    assert rep["fused_5_views"]["iou_0.5"] == pytest.approx(1.0, abs=1e-4)
    assert rep["fused_5_views_no_azimuths"]["iou_0.5"] == pytest.approx(1.0, abs=1e-4)
    assert rep["azimuth"]["az_acc15"] == 1.0


def test_azimuth_metrics_wrap_around() -> None:
    m = azimuth_metrics(np.array([359.0, 10.0, 190.0, 100.0]), np.array([5.0, 350.0, 5.0, 0.0]))
    assert m["az_acc15"] == 0.25 and m["az_acc15_mod180"] == 0.5
    assert m["az_median_err"] == pytest.approx((20.0 + 100.0) / 2)


@pytest.mark.slow
@pytest.mark.parametrize("frame", ["view", "object"])
def test_train_and_ship_end_to_end(tmp_path: Path, tiny_npz: Path, frame: str) -> None:
    import json

    from voxforge.nn.reconstruct.inference import load_reconstructor
    from voxforge.nn.reconstruct.renderset import build_render_set
    from voxforge.nn.reconstruct.train import ship_reconstruction, train_reconstruction

    rs_dir = build_render_set(tiny_npz, tmp_path / "rs", RenderSetConfig(views=2), workers=1)
    make = _object_config if frame == "object" else _config
    cfg = make(data={"path": str(rs_dir)}, epochs=2, samples_per_epoch=16, batch_size=8,
                  warmup_epochs=0.0, surface_views=8, surface_epochs=1,
                  output_dir=str(tmp_path / "runs"))  # fmt: skip
    result = train_reconstruction(cfg)
    assert result.epochs_run == 2 and (result.run_dir / "best.pt").is_file()
    assert len((result.run_dir / "metrics.csv").read_text().splitlines()) == 3
    info = ship_reconstruction(result.run_dir, tmp_path / "m" / "reconstruction-image",
                               command="test", trained_on="test")  # fmt: skip
    sidecar = json.loads((tmp_path / "m" / "reconstruction-image.json").read_text())
    assert sidecar["kind"] == "image" and sidecar["frame"] == frame
    card = (tmp_path / "m" / "reconstruction-image.md").read_text()
    assert "## Validation metrics" in card
    assert ("Azimuth head" in card) == (frame == "object") == ("azimuth" in info["validation"])
    assert 0.0 <= info["validation"]["single_view"]["iou_0.5"] <= 1.0
    rec = load_reconstructor("image", tmp_path / "m" / "reconstruction-image.safetensors")
    assert rec.frame == frame
    assert rec.predict([np.full((128, 128, 3), 255, np.uint8)]).occupancy.shape == (32, 32, 32)
