import json

import numpy as np
import pytest
from tests.nn.generate.fakes import box_generator

from voxforge.core.errors import PromptError
from voxforge.pipelines.generate import GenerateConfig, run_generate


def test_generate_writes_every_variation(tmp_path):
    out = tmp_path / "gen"
    cfg = GenerateConfig(variations=2, steps=4, preview_size=64)
    s = run_generate("a wide spaceship", out, cfg, generator=box_generator())
    assert not s["class_named_in_prompt"] and "nearest class" in s["note"]
    manifest = json.loads((out / "manifest.json").read_text())
    names = {o["name"] for o in manifest["outputs"]}
    for k in (1, 2):
        for f in ("voxels.npz", "model.obj", "model.stl", "model.glb", "preview.png"):
            assert f"v{k}/{f}" in names
    assert {"variations.png", "summary.json", "config.yaml"} <= names
    with np.load(out / "v1" / "voxels.npz") as z:
        assert z["occupancy"].shape == (32, 32, 32)
        assert z["occupancy"].sum() == s["variations"][0]["filled_cells"]


def test_bad_prompt_writes_nothing(tmp_path):
    with pytest.raises(PromptError):
        run_generate("", tmp_path / "gen", GenerateConfig(), generator=box_generator())
    assert not (tmp_path / "gen").exists()
