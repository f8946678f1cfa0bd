"""The shipped completion network: it loads, and completes better than the raw scan."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voxforge.core.errors import ConfigError, GeometryError
from voxforge.nn.completion.dataset import simulate_set
from voxforge.nn.completion.infer import load_completer
from voxforge.nn.datasets import load_voxel_set, stratified_split
from voxforge.nn.metrics import iou


def test_shipped_model_improves_iou_on_validation_shapes(shared_data) -> None:
    completer = load_completer()
    assert completer.info["architecture"] == "completion-unet"
    data = load_voxel_set(shared_data / "modelnet10_vox30_train.npz")
    val = stratified_split(data.labels, 0.15, 0)[1]
    val = val[data.voxels[val].reshape(len(val), -1).any(axis=1)][::60][:8]
    partial, empty = simulate_set(data.voxels, val, np.ones(len(val), int), seed=7)
    target = data.voxels[val].astype(bool)
    net = iou(completer.complete(partial, empty), target)
    none = iou(partial, target)
    assert net.mean() > none.mean() + 0.2
    assert (net > none).mean() >= 0.75


def test_bad_weights_and_inputs(tmp_path, random_weights) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"architecture": "other"}))
    (tmp_path / "x.safetensors").write_bytes(b"")
    with pytest.raises(ConfigError, match="not a completion model sidecar"):
        load_completer(tmp_path / "x")
    c = load_completer(random_weights)
    with pytest.raises(GeometryError, match="32³"):
        c.complete(np.zeros((16, 16, 16), bool), np.zeros((16, 16, 16), bool))
    assert c.probabilities(np.zeros((2, 32, 32, 32)), np.zeros((2, 32, 32, 32))).shape == (2, 32, 32, 32)
