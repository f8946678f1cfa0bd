"""Tiny fixtures for the classifier tests: generated shapes, a tiny trained-format model folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

CLASSES = ["box", "plate", "pole"]


def shape_grid(kind: int, rng: np.random.Generator, size: int = 30) -> np.ndarray:
    """(size,)*3 uint8: 0 a cube, 1 a flat slab, 2 a tall pole, each jittered in size."""
    g = np.zeros((size,) * 3, np.uint8)
    c = size // 2
    j = int(rng.integers(0, 3))
    if kind == 0:
        h = 7 + j
        g[c - h : c + h, c - h : c + h, c - h : c + h] = 1
    elif kind == 1:
        h = 10 + j
        g[c - h : c + h, c - h : c + h, c - 2 : c + 1] = 1
    else:
        h = 2 + j // 2
        g[c - h : c + h, c - h : c + h, 3 : size - 3] = 1
    return g


def make_dataset(n_per_class: int = 8, seed: int = 0, size: int = 30) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CLASSES)), n_per_class)
    vox = np.stack([shape_grid(int(k), rng, size) for k in labels])
    return {"voxels": vox, "labels": labels.astype(np.int64), "classes": np.asarray(CLASSES)}


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 24-shape dataset npz in the shared format (3 classes, 30³)."""
    path = tmp_path_factory.mktemp("nn_data") / "tiny.npz"
    np.savez_compressed(path, **make_dataset())
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with 'tiny-voxel': a small untrained VoxResNet saved as a shipped model."""
    import torch

    from voxforge.nn.classify.inference import save_classifier
    from voxforge.nn.classify.models import create_model

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("nn_models")
    model = create_model("voxresnet", num_classes=len(CLASSES), widths=(4, 8, 8), blocks=(1, 1))
    save_classifier(model, folder / "tiny-voxel", classes=CLASSES, input_kind="voxels")
    return folder
