"""Reconstruction losses on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from voxforge.nn.reconstruct.losses import (
    azimuth_loss,
    chamfer_distance,
    confidence_loss,
    dice_loss,
    edge_length_loss,
    laplacian_loss,
    mesh_topology,
    normal_consistency_loss,
    occupancy_loss,
)
from voxforge.nn.reconstruct.models import azimuth_soft_labels, icosphere

# a square fan: centre vertex 0 and four rim vertices at distance 1
FAN_V = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]]])
FAN_F = torch.tensor([[0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 1]])


def test_dice_of_half_probabilities() -> None:
    logits = torch.zeros(1, 4)
    target = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    # inter 1, sum p 2, sum t 2, eps 1 -> 1 - 3/5
    assert dice_loss(logits, target).item() == pytest.approx(0.4)
    assert dice_loss(torch.full((1, 4), 30.0), torch.ones(1, 4)).item() == pytest.approx(0.0, abs=1e-6)


def test_occupancy_loss_is_bce_plus_dice() -> None:
    logits, target = torch.zeros(1, 2), torch.tensor([[1.0, 0.0]])
    assert occupancy_loss(logits, target).item() == pytest.approx(math.log(2) + 1 / 3)
    assert occupancy_loss(logits, target, dice_weight=0.0, pos_weight=3.0).item() == pytest.approx(
        2 * math.log(2)
    )


def test_confidence_learns_which_voxels_are_right() -> None:
    occ = torch.tensor([[2.0, -1.0]])
    target = torch.tensor([[1.0, 1.0]])
    assert confidence_loss(torch.zeros(1, 2), occ, target).item() == pytest.approx(math.log(2))
    sure = torch.tensor([[20.0, -20.0]])  # confident where right, unsure where wrong
    assert confidence_loss(sure, occ, target).item() == pytest.approx(0.0, abs=1e-6)


def test_chamfer_l2_and_l1_by_hand() -> None:
    a = torch.tensor([[[0.0, 0, 0]]])
    b = torch.tensor([[[1.0, 0, 0], [0, 2, 0]]])
    l2, near = chamfer_distance(a, b)
    assert l2.item() == pytest.approx(1.0 + 2.5)  # a->b: 1; b->a: (1 + 4) / 2
    assert near.tolist() == [[1.0]]
    l1, _ = chamfer_distance(a, b, squared=False)
    assert l1.item() == pytest.approx(1.0 + 1.5)
    same, _ = chamfer_distance(b, b)
    assert same.item() == 0.0


def test_chamfer_gradients_pull_points_together() -> None:
    a = torch.tensor([[[0.5, 0.0, 0.0]]], requires_grad=True)
    loss, _ = chamfer_distance(a, torch.zeros(1, 1, 3))
    loss.backward()
    assert a.grad.tolist() == [[[2.0, 0.0, 0.0]]]  # d/dx of 2 x² at 0.5


def test_fan_laplacian_and_edge_lengths() -> None:
    # rim vertex: neighbours centre + two rim vertices, centroid at the origin -> |lap|² = 1
    assert laplacian_loss(FAN_V, FAN_F).item() == pytest.approx(4 / 5)
    # four spokes of length 1, four rim edges of length sqrt 2
    assert edge_length_loss(FAN_V, FAN_F).item() == pytest.approx(1.5)
    assert normal_consistency_loss(FAN_V, FAN_F).item() == pytest.approx(0.0, abs=1e-7)


def test_normal_consistency_of_a_right_angle_fold() -> None:
    v = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]])
    f = torch.tensor([[0, 1, 2], [0, 3, 1]])  # normals +z and +y share edge 0-1
    assert normal_consistency_loss(v, f).item() == pytest.approx(1.0)


def test_icosphere_topology_counts() -> None:
    verts, faces = icosphere(3)
    edges, pairs, degree = mesh_topology(faces.tobytes(), len(faces))
    assert verts.shape == (642, 3) and faces.shape == (1280, 3)
    assert edges.shape == (1920, 2) and pairs.shape == (1920, 2)
    assert sorted(np.unique(degree).tolist()) == [5, 6] and int((degree == 5).sum()) == 12
    sphere = torch.from_numpy(verts.copy())[None]
    assert normal_consistency_loss(sphere, torch.from_numpy(faces.copy())).item() < 0.01


def test_azimuth_loss_is_smallest_at_the_true_azimuth() -> None:
    az = torch.tensor([30.0, 300.0])
    right = torch.log(azimuth_soft_labels(az, 72, 1.0).clamp_min(1e-30))
    wrong = torch.log(azimuth_soft_labels(az + 90.0, 72, 1.0).clamp_min(1e-30))
    entropy = -(right.exp() * right).sum(1).mean()
    assert azimuth_loss(right, az, 1.0).item() == pytest.approx(entropy.item(), rel=1e-5)
    assert azimuth_loss(wrong, az, 1.0) > azimuth_loss(right, az, 1.0) + 5
    flat = torch.zeros(2, 72, requires_grad=True)
    loss = azimuth_loss(flat, az, 0.0)
    assert loss.item() == pytest.approx(math.log(72), rel=1e-5)  # one-hot: plain cross-entropy
    loss.backward()
    assert flat.grad[0, 6] < 0 and flat.grad[1, 60] < 0  # 30° is bin 6, 300° bin 60
