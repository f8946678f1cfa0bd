"""Reconstruction metrics: exact values on tiny grids."""

from __future__ import annotations

import numpy as np
import pytest

from voxforge.core.errors import GeometryError
from voxforge.nn.metrics import (
    dice,
    iou,
    point_distances,
    reconstruction_metrics,
    summarize,
    surface_distances,
    surface_points,
)


def grid(cells: list[tuple[int, int, int]], size: int = 4) -> np.ndarray:
    g = np.zeros((size,) * 3, bool)
    for c in cells:
        g[c] = True
    return g


def test_iou_and_dice_exact() -> None:
    target = grid([(0, 0, 0), (1, 0, 0)])
    pred = grid([(0, 0, 0), (2, 0, 0)])
    assert iou(pred, target).tolist() == [pytest.approx(1 / 3)]
    assert dice(pred, target).tolist() == [pytest.approx(0.5)]
    assert iou(target, target).tolist() == [1.0]


def test_thresholds_apply_to_probabilities() -> None:
    target = grid([(0, 0, 0), (1, 0, 0)])
    prob = np.zeros((4, 4, 4), np.float32)
    prob[0, 0, 0], prob[1, 0, 0] = 0.35, 0.45
    assert iou(prob, target, 0.3)[0] == 1.0
    assert iou(prob, target, 0.4)[0] == 0.5
    assert iou(prob, target, 0.5)[0] == 0.0
    m = reconstruction_metrics(prob[None], target[None])
    assert m["iou@0.3"][0] == 1.0 and m["iou@0.4"][0] == 0.5 and m["iou@0.5"][0] == 0.0
    assert m["dice"][0] == pytest.approx(2 / 3)


def test_empty_cases_are_scored_not_skipped() -> None:
    empty, full = grid([]), grid([(1, 1, 1)])
    both = reconstruction_metrics(np.stack([empty, empty]), np.stack([empty, full]))
    assert both["iou@0.4"].tolist() == [1.0, 0.0]
    assert both["dice"].tolist() == [1.0, 0.0]
    assert both["chamfer_l1"].tolist() == [0.0, pytest.approx(np.sqrt(3))]
    assert both["chamfer_l2"].tolist() == [0.0, 3.0]
    assert both["fscore"].tolist() == [1.0, 0.0]


def test_surface_points_drop_interior_cells() -> None:
    g = np.zeros((5, 5, 5), bool)
    g[1:4, 1:4, 1:4] = True
    pts = surface_points(g)
    assert len(pts) == 26
    assert not np.any(np.all(np.isclose(pts, 0.0), axis=1))  # the centre cell is interior
    assert np.allclose(pts.min(axis=0), (1.5 / 5) - 0.5)
    full = np.ones((3, 3, 3), bool)  # the grid border counts as empty
    assert len(surface_points(full)) == 26


def test_chamfer_and_fscore_of_shifted_cells() -> None:
    target = grid([(10, 10, 10)], 32)
    one = grid([(11, 10, 10)], 32)
    two = grid([(12, 10, 10)], 32)
    d = surface_distances(np.stack([target, one, two]), np.stack([target] * 3))
    assert d["chamfer_l1"].tolist() == pytest.approx([0.0, 1 / 32, 2 / 32])
    assert d["chamfer_l2"].tolist() == pytest.approx([0.0, 1 / 32**2, 4 / 32**2])
    assert d["fscore"].tolist() == [1.0, 1.0, 0.0]  # tau = one cell, inclusive


def test_point_distances_asymmetric_sets() -> None:
    p = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    q = np.array([[0.0, 0.0, 0.0]])
    l1, l2, f = point_distances(p, q, tau=0.1)
    assert l1 == pytest.approx(0.5 * (0.5 + 0.0))
    assert l2 == pytest.approx(0.5 * (0.5 + 0.0))
    assert f == pytest.approx(2 * 0.5 * 1.0 / 1.5)


def test_summarize_and_shape_errors() -> None:
    s = summarize({"iou@0.4": np.array([0.5, 1.0]), "dice": np.array([0.0, 1.0])})
    assert s == {"iou@0.4": 0.75, "dice": 0.5, "mean_iou": 0.75}
    with pytest.raises(GeometryError, match="same"):
        iou(np.zeros((2, 4, 4, 4)), np.zeros((1, 4, 4, 4)))
