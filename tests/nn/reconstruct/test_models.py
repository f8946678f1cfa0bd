"""Reconstruction networks: registry, output shapes and ranges, gradients, voxel shuffle, over-fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxforge.core.errors import ConfigError
from voxforge.nn.reconstruct.losses import occupancy_loss
from voxforge.nn.reconstruct.models import (
    MeshHead,
    azimuth_soft_labels,
    create_recon_model,
    decode_azimuth,
    images_to_tensor,
    list_recon_models,
    voxel_shuffle,
)

TINY = {"encoder_widths": (4, 4, 8, 8, 8), "latent": 16, "voxel_widths": (4, 4, 4),
        "num_points": 64, "head_hidden": 16}  # fmt: skip


def test_registry_and_errors() -> None:
    assert list_recon_models() == ["reconnet"]
    with pytest.raises(ConfigError, match="did you mean reconnet"):
        create_recon_model("reconet")
    with pytest.raises(ConfigError, match="reconstruction model 'reconnet'"):
        create_recon_model("reconnet", depth=3)


def test_default_size_fits_the_shipping_budget() -> None:
    model = create_recon_model("reconnet")
    assert sum(p.numel() for p in model.parameters()) == 1_845_966  # 3.7 MB as float16


def test_output_shapes_ranges_and_gradients() -> None:
    torch.manual_seed(0)
    model = create_recon_model("reconnet", **TINY, azimuth_bins=8)
    x = torch.rand(2, 3, 128, 128)
    out = model(x)
    assert out.azimuth_logits.shape == (2, 8)
    assert out.voxel_logits.shape == out.confidence_logits.shape == (2, 32, 32, 32)
    assert out.points.shape == (2, 64, 3) and out.mesh_vertices.shape == (2, 642, 3)
    assert out.points.abs().max() <= 0.5 and out.mesh_vertices.abs().max() <= 0.5
    assert model.mesh_faces.shape == (1280, 3)
    loss = sum(t.float().pow(2).mean() for t in vars(out).values())
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_only_requested_heads_run() -> None:
    model = create_recon_model("reconnet", **TINY).eval()
    out = model(torch.rand(3, 3, 128, 128), heads=("voxels",))
    assert out.voxel_logits.shape == (3, 32, 32, 32)
    assert out.points.shape == (3, 0, 3) and out.mesh_vertices.shape == (3, 0, 3)


def test_wrong_image_size_is_a_config_error() -> None:
    model = create_recon_model("reconnet", **TINY)
    with pytest.raises(ConfigError, match=r"expected \(B, 3, 128, 128\) images, got \(1, 3, 64, 64\)"):
        model(torch.rand(1, 3, 64, 64))


def test_voxel_shuffle_places_children() -> None:
    y = torch.zeros(1, 16, 2, 2, 2)
    y[0, 8 + 4 * 1 + 2 * 0 + 1, 1, 0, 1] = (
        7.0  # channel 1, child (dx, dy, dz) = (1, 0, 1) of cell (1, 0, 1)
    )
    out = voxel_shuffle(y, 2)
    assert out.shape == (1, 2, 4, 4, 4)
    assert out[0, 1, 3, 0, 3].item() == 7.0 and out.sum().item() == 7.0


def test_mesh_head_starts_as_a_sphere() -> None:
    head = MeshHead(latent=8, hidden=8)
    radii = head.template.norm(dim=1)
    torch.testing.assert_close(radii, torch.full_like(radii, 0.3))
    with torch.no_grad():
        head.mlp[-1].weight.zero_()
    torch.testing.assert_close(head(torch.ones(2, 8))[1], head.template)


def test_images_to_tensor_scales_and_copies_grey() -> None:
    grey = np.full((1, 128, 128), 255, np.uint8)
    grey[0, 0, 0] = 51
    x = images_to_tensor(grey)
    assert x.shape == (1, 3, 128, 128) and x.dtype == torch.float32
    assert x[0, :, 0, 0].tolist() == pytest.approx([0.2, 0.2, 0.2]) and x[0, :, 1, 1].tolist() == [
        1,
        1,
        1,
    ]


@pytest.mark.slow
def test_over_fits_four_images() -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(4, 3, 128, 128, generator=g)
    t = torch.zeros(4, 32, 32, 32)
    for i in range(4):  # boxes of different heights, one per image
        t[i, 8:24, 8:24, : 6 * (i + 1)] = 1
    model = create_recon_model("reconnet", **{**TINY, "latent": 32, "voxel_widths": (8, 8, 8)})
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        loss = occupancy_loss(model(x, heads=("voxels",)).voxel_logits, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    pred = model(x, heads=("voxels",)).voxel_logits > 0
    iou = ((pred & (t > 0)).sum((1, 2, 3)) / (pred | (t > 0)).sum((1, 2, 3))).min().item()
    assert iou > 0.9


def test_azimuth_head_only_when_asked() -> None:
    x = torch.rand(2, 3, 128, 128)
    with_head = create_recon_model("reconnet", **TINY, azimuth_bins=72).eval()
    assert with_head(x, heads=("voxels",)).azimuth_logits.shape == (2, 72)
    assert create_recon_model("reconnet", **TINY).eval()(x).azimuth_logits is None
    with pytest.raises(ConfigError, match="azimuth_bins must be 0"):
        create_recon_model("reconnet", **TINY, azimuth_bins=1)


@pytest.mark.parametrize("az", [0.0, 12.3, 181.7, 357.6, -10.0])
def test_soft_labels_are_circular_and_decode_back(az: float) -> None:
    soft = azimuth_soft_labels(torch.tensor([az]), 72, 1.0)
    assert soft.shape == (1, 72) and soft.sum().item() == pytest.approx(1.0)
    near = round((az % 360) / 5) % 72
    assert int(soft.argmax()) == near
    assert soft[0, (near + 1) % 72] > 0.1 and soft[0, (near - 1) % 72] > 0.1  # wraps at 0/360
    deg, conf = decode_azimuth(torch.log(soft))
    err = abs((deg.item() - az + 180) % 360 - 180)
    assert err < 0.6 and 0.9 < conf.item() <= 1.0  # sub-bin precision from the neighbours
    hard = azimuth_soft_labels(torch.tensor([az]), 72, 0.0)
    assert hard.sum() == 1 and int(hard.argmax()) == near


def test_decode_ignores_the_far_peak_of_a_symmetric_object() -> None:
    p = torch.zeros(1, 72)
    p[0, 10], p[0, 46] = 0.55, 0.45  # 50° or 230°: a front/back confusion
    deg, conf = decode_azimuth(torch.log(p + 1e-9))
    assert deg.item() == pytest.approx(50.0, abs=1e-3) and conf.item() == pytest.approx(0.55, abs=1e-4)
