"""Fixtures of the classifier tests that need held-out shapes: a set without near-duplicates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

CLASSES = ["cube", "slab", "pole"]
SPLIT = {"train": 36, "val": 24, "val_fraction": 0.4, "split_seed": 0}
"""The training split the tiny models record (60 shapes, 40 % held out)."""


@pytest.fixture(scope="session")
def distinct_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 boxes of three proportions, each of its own size and place: no near-duplicates, so
    every held-out shape counts as never seen."""
    rng = np.random.default_rng(0)
    vox = np.zeros((60, 30, 30, 30), np.uint8)
    labels = np.repeat(np.arange(3), 20)
    for i, k in enumerate(labels):
        side = rng.integers(3, 8, size=3)
        side[2] = [side[2], 2, 12][k]  # cube-ish, slab, pole
        lo = rng.integers(2, 28 - 2 * side)
        vox[i, lo[0] : lo[0] + 2 * side[0], lo[1] : lo[1] + 2 * side[1], lo[2] : lo[2] + 2 * side[2]] = 1
    path = tmp_path_factory.mktemp("distinct") / "set.npz"
    np.savez_compressed(path, voxels=vox, labels=labels, classes=np.array(CLASSES))
    return path


def split_model(stem: Path, seed: int = 0) -> Path:
    """An untrained tiny voxresnet saved at ``stem`` as if trained on :data:`SPLIT`."""
    import torch

    from voxforge.nn.classify.inference import save_classifier
    from voxforge.nn.classify.models import create_model

    torch.manual_seed(seed)
    net = create_model("voxresnet", num_classes=3, widths=(4, 8, 8), blocks=(1, 1))
    save_classifier(net, stem, classes=CLASSES, input_kind="voxels",
                    extra={"training": {"split": SPLIT, "data": "set.npz"}})  # fmt: skip
    return stem
