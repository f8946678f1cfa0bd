"""The classify pipeline: classification.json + labelled preview through OutputDir."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from voxforge.core.errors import InputFormatError
from voxforge.pipelines.classify import ClassifyConfig, classification_preview, run_classify


def test_preview_shows_the_grid_and_a_caption():
    grid = np.zeros((32, 32, 32), np.uint8)
    grid[8:24, 10:22, 0:20] = 1
    img = classification_preview(grid, [("dresser", 0.73), ("night_stand", 0.18)], 256)
    assert img.shape == (256, 256, 3) and img.dtype == np.uint8
    band = img[256 - 32 :]
    assert (band < 100).any()  # caption text is drawn in the band
    body = img[: 256 - 32]
    assert ((body != 255).any(axis=2)).mean() > 0.1  # the box is drawn


def test_config_refuses_paths_as_model_names_and_bad_ranges():
    with pytest.raises(ValidationError, match="model"):
        ClassifyConfig(model="../weights/evil")
    with pytest.raises(ValidationError, match="top"):
        ClassifyConfig(top=0)
    with pytest.raises(ValidationError, match="extra"):
        ClassifyConfig.model_validate({"bogus": 1})


def test_missing_input_names_the_file_and_writes_nothing(tmp_path):
    with pytest.raises(InputFormatError, match=r"nope\.ply: file not found"):
        run_classify(tmp_path / "nope.ply", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # torch, the shipped model and 12-view voting (~5 s on 2 busy cores)
def test_a_modelnet_chair_is_classified_as_a_chair(shared_data, tmp_path):
    d = np.load(shared_data / "modelnet10_vox30_train.npz")
    classes = [str(c) for c in d["classes"]]
    chair = d["voxels"][np.flatnonzero(d["labels"] == classes.index("chair"))[0]]
    src = tmp_path / "chair.npy"
    np.save(src, chair.astype(bool))
    stages: list[tuple[str, float]] = []
    result = run_classify(
        src,
        tmp_path / "out",
        ClassifyConfig(top=3, preview_size=128),
        lambda s, f: stages.append((s, f)),
    )
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "classification.json",
        "config.yaml",
        "manifest.json",
        "preview.png",
    ]
    data = json.loads((out / "classification.json").read_text())
    assert data == json.loads(json.dumps(result.classification, default=str))
    assert data["top"][0]["class"] == "chair"
    probs = [t["probability"] for t in data["top"]]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1.0001
    assert data["source"] == "chair.npy" and data["model"] == "classifier-voxel"
    assert data["input"]["kind"] == "VoxelGrid"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["job"] == "classify"
    assert [o["name"] for o in manifest["outputs"]] == [
        "classification.json",
        "preview.png",
        "config.yaml",
    ]
    assert Image.open(out / "preview.png").size == (128, 128)
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert stages[0][0] == "read"
