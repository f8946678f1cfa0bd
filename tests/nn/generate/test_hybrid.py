import numpy as np
import pytest
import torch

from voxforge.core.errors import ConfigError, UnsupportedInputError
from voxforge.nn.generate.hybrid import (
    PictureShape,
    generate_with_picture,
    picture_shape,
    read_with_picture,
)


class FakeClassifier:
    classes = ("bathtub", "bed", "chair")

    def predict_proba(self, x: np.ndarray, views: int = 4) -> np.ndarray:
        return np.tile(np.array([[0.1, 0.2, 0.7]], np.float32), (len(x), 1))


def _picture() -> PictureShape:
    occ = np.zeros((32, 32, 32), bool)
    occ[8:24, 10:22, 0:20] = True
    return PictureShape(occ.astype(np.float32), occ, "plain")


def test_low_strength_keeps_the_start_latent_and_full_strength_forgets_it(tiny_generator):
    cond = torch.zeros(2, 32)
    start = torch.randn(2, 8, generator=torch.Generator().manual_seed(1)) * 0.5
    near = tiny_generator.sample_latents(cond, 0, 1.0, 20, start=start, strength=0.02)
    far = tiny_generator.sample_latents(cond, 0, 1.0, 20, start=start, strength=1.0)
    plain = tiny_generator.sample_latents(cond, 0, 1.0, 20)
    torch.testing.assert_close(far, plain, atol=1e-3, rtol=0)  # alpha_bar(1) is 1e-5, not 0
    assert float((near - start).abs().mean()) < 0.1
    assert float((far - start).abs().mean()) > 3 * float((near - start).abs().mean())


def test_prompt_without_a_class_takes_the_pictures_class():
    r = read_with_picture("with armrests", _picture(), FakeClassifier())
    assert r.cls == "chair" and not r.named and "picture looks like a chair" in r.note
    assert r.condition.endswith("a chair")
    named = read_with_picture("a wide bed", _picture(), FakeClassifier())
    assert named.cls == "bed" and named.named and named.note == ""


def test_generate_with_picture_makes_variations_and_checks_options(tiny_generator):
    g = generate_with_picture(tiny_generator, "a tall chair", _picture(), 3, seed=2, steps=6)
    assert g.occupancy.shape == (3, 32, 32, 32) and g.info["image_strength"] == 0.6
    assert not np.allclose(g.probability[0], g.probability[1])
    with pytest.raises(ConfigError, match="strength"):
        generate_with_picture(tiny_generator, "a chair", _picture(), 2, strength=0.0)


def test_a_file_that_is_not_a_picture_is_refused(tmp_path):
    bad = tmp_path / "chair.jpg"
    bad.write_text("not a picture")
    with pytest.raises(UnsupportedInputError, match="not an image"):
        picture_shape(bad)
