"""Shapes for the completion tests."""

from __future__ import annotations

import numpy as np
import pytest


def tower_block() -> np.ndarray:
    """(32, 32, 32) bool: a block with a tower near one side, mirror-symmetric about x = 16 only."""
    g = np.zeros((32, 32, 32), bool)
    g[6:26, 8:24, 2:12] = True
    g[12:20, 8:12, 12:22] = True
    return g


@pytest.fixture
def block() -> np.ndarray:
    return tower_block()


def box_cloud(sides: str = "front_top", n: int = 3000, seed: int = 0):
    """A 30 x 20 x 40 cm box's surface points with outward normals: ``front_top`` is what a
    phone sees from +x (front face and top), ``all`` the whole box."""
    from voxforge.core.pointcloud import PointCloud

    rng = np.random.default_rng(seed)
    half = np.array([0.15, 0.10, 0.20])
    faces = [(0, 1), (2, 1)] if sides == "front_top" else [(a, s) for a in range(3) for s in (-1, 1)]
    pts, nrm = [], []
    for axis, sign in faces:
        p = rng.uniform(-half, half, (n, 3))
        p[:, axis] = sign * half[axis]
        normal = np.zeros(3)
        normal[axis] = sign
        pts.append(p + np.array([0.0, 0.0, 0.2]))
        nrm.append(np.tile(normal, (n, 1)))
    return PointCloud(np.vstack(pts) + rng.normal(0, 0.002, (len(faces) * n, 3)), normals=np.vstack(nrm))


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory: pytest.TempPathFactory):
    """A seeded, untrained completion network saved like the shipped one."""
    import torch

    from voxforge.nn.completion.infer import save_completer
    from voxforge.nn.completion.model import CompletionUNet

    torch.manual_seed(0)
    stem = tmp_path_factory.mktemp("w") / "completion-test"
    save_completer(CompletionUNet((4, 8, 8, 8)), stem, threshold=0.5, extra={})
    return stem
