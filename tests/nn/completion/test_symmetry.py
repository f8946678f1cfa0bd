"""The mirror-symmetry baseline."""

from __future__ import annotations

import numpy as np

from voxforge.nn.completion.sim import simulate_scan
from voxforge.nn.completion.symmetry import best_mirror_plane, fill_holes, mirror_complete


def test_a_mirrored_shape_is_completed_exactly(block: np.ndarray) -> None:
    scan = simulate_scan(block, [0.0], [30.0], seed=0, noise=False)
    assert (scan.partial.sum() / block.sum()) < 0.3
    out, plane = mirror_complete(scan.partial, scan.known_empty)
    assert plane is not None and plane.angle_deg == 0.0
    assert abs(plane.point[0] - 16.0) < 0.5
    assert (out == block).all()


def test_the_plane_follows_the_shape(block: np.ndarray) -> None:
    turned = np.transpose(block, (1, 0, 2))  # symmetric about y = 16 now
    scan = simulate_scan(turned, [90.0], [30.0], seed=0, noise=False)
    plane = best_mirror_plane(scan.partial, scan.known_empty)
    assert plane is not None and plane.angle_deg == 90.0


def test_fill_holes_respects_known_empty() -> None:
    g = np.zeros((8, 8, 8), bool)
    g[1, 1:7, 1:7] = g[6, 1:7, 1:7] = True
    free = np.zeros_like(g)
    assert fill_holes(g, free)[2:6, 1:7, 1:7].all()
    free[3] = True
    out = fill_holes(g, free)
    assert not out[3].any() and out[2, 1:7, 1:7].all()


def test_empty_partial_stays_empty() -> None:
    out, plane = mirror_complete(np.zeros((8, 8, 8), bool), np.zeros((8, 8, 8), bool))
    assert plane is None and not out.any()
