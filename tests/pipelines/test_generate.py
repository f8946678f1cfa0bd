import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from voxforge.cli import app
from voxforge.core.errors import PromptError
from voxforge.pipelines.generate import GenerateConfig, run_generate

from tests.nn.generate.conftest import hash_encoder, tiny_generator  # noqa: F401  (fixtures)


@pytest.fixture
def box_generator(tiny_generator):
    """The tiny generator with a decoder that draws a box whose height follows the latent."""

    def decode(z: torch.Tensor) -> torch.Tensor:
        out = torch.full((z.shape[0], 32, 32, 32), -6.0)
        for i, h in enumerate((8 + 4 * torch.tanh(z[:, 0])).round().int().tolist()):
            out[i, 10:18, 12:16, 0:h] = 6.0
        return out

    tiny_generator.vae.decode = decode
    return tiny_generator


def test_generate_writes_every_variation(box_generator, tmp_path):
    out = tmp_path / "gen"
    s = run_generate("a wide spaceship", out, GenerateConfig(variations=2, steps=4, preview_size=64), generator=box_generator)
    assert not s["class_named_in_prompt"] and "nearest class" in s["note"]
    manifest = json.loads((out / "manifest.json").read_text())
    names = {o["name"] for o in manifest["outputs"]}
    for k in (1, 2):
        for f in ("voxels.npz", "model.obj", "model.stl", "model.glb", "preview.png"):
            assert f"v{k}/{f}" in names
    assert {"variations.png", "summary.json", "config.yaml"} <= names
    with np.load(out / "v1" / "voxels.npz") as z:
        assert z["occupancy"].shape == (32, 32, 32) and z["occupancy"].sum() == s["variations"][0]["filled_cells"]


def test_bad_prompt_writes_nothing(box_generator, tmp_path):
    with pytest.raises(PromptError):
        run_generate("", tmp_path / "gen", GenerateConfig(), generator=box_generator)
    assert not (tmp_path / "gen").exists()


@pytest.mark.parametrize("prompt", ["", "a" * 10_000, "一把很高的椅子"])
def test_cli_refuses_bad_prompts_with_one_line(prompt, tmp_path):
    r = CliRunner().invoke(app, ["generate", prompt, "-o", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "it makes: bathtub, bed, chair" in r.output
    assert not (tmp_path / "o").exists()
