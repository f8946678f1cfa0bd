import numpy as np
import pytest

from voxforge.core.errors import ConfigError, GeometryError, PromptError
from voxforge.nn.generate.evaluate import nearest_training_iou, pairwise_distance
from voxforge.nn.generate.generator import clean_occupancy, load_generator, save_generator
from voxforge.nn.generate.train import dihedral


def test_seeded_variations_differ_and_repeat(tiny_generator):
    a = tiny_generator.generate("a tall chair", variations=3, seed=1, steps=4)
    b = tiny_generator.generate("a tall chair", variations=3, seed=1, steps=4)
    c = tiny_generator.generate("a tall chair", variations=3, seed=2, steps=4)
    assert a.probability.shape == (3, 32, 32, 32) and a.occupancy.dtype == bool
    np.testing.assert_array_equal(a.probability, b.probability)
    assert not np.allclose(a.probability, c.probability)
    assert not np.allclose(a.probability[0], a.probability[1])


def test_bad_requests_raise_clear_errors(tiny_generator):
    with pytest.raises(PromptError):
        tiny_generator.generate("", steps=4)
    with pytest.raises(ConfigError, match="variations"):
        tiny_generator.generate("a bed", variations=0)
    with pytest.raises(ConfigError, match="guidance"):
        tiny_generator.generate("a bed", guidance=-1)


def test_weights_round_trip(tiny_generator, hash_encoder, tmp_path):
    save_generator(
        tmp_path / "g",
        tiny_generator.vae,
        tiny_generator.denoiser,
        tiny_generator.mean.numpy(),
        tiny_generator.std.numpy(),
        tiny_generator.info,
    )
    again = load_generator(tmp_path / "g", encoder=hash_encoder)
    a = tiny_generator.generate("a desk", variations=2, seed=3, steps=4).probability
    b = again.generate("a desk", variations=2, seed=3, steps=4).probability
    np.testing.assert_allclose(a, b, atol=0.02)  # weights are stored as float16
    with pytest.raises(ConfigError, match="not found"):
        load_generator(tmp_path / "missing")


def test_clean_occupancy_drops_specks_and_refuses_empty():
    p = np.zeros((32, 32, 32), np.float32)
    p[5:15, 5:15, 0:10] = 0.9
    p[30, 30, 30] = 0.9
    occ = clean_occupancy(p, 0.5)
    assert occ.sum() == 1000 and not occ[30, 30, 30]
    faint = np.where(p > 0, 0.4, 0.0).astype(np.float32)
    assert clean_occupancy(faint, 0.5).sum() == 1000
    with pytest.raises(GeometryError, match="empty"):
        clean_occupancy(np.zeros((32, 32, 32), np.float32), 0.5)


def test_diversity_and_novelty_measures():
    g = np.zeros((32, 32, 32), bool)
    g[2:20, 4:10, 0:6] = True
    turned = np.ascontiguousarray(dihedral(g, 1))
    assert pairwise_distance(np.stack([g, g]), aligned=False) == 0.0
    assert pairwise_distance(np.stack([g, turned]), aligned=False) > 0.3
    assert pairwise_distance(np.stack([g, turned]), aligned=True) == 0.0
    other = np.zeros_like(g)
    other[0:4, 0:4, 0:30] = True
    near = nearest_training_iou(np.stack([turned, other]), np.stack([g]))
    assert near[0] == pytest.approx(1.0) and near[1] < 0.1


def test_class_and_attribute_token_conditioning_round_trips(hash_encoder, tmp_path):
    """A model conditioned on sentence + class one-hot + attribute token: the token follows the
    prompt's class and the head, and the weights (head included) load back."""
    import torch

    from voxforge.nn.generate.captions import ATTRIBUTES, CLASS_WORDS
    from voxforge.nn.generate.generator import TextToShape
    from voxforge.nn.generate.models import AttributeHead, LatentDenoiser, VoxelVAE
    from voxforge.nn.generate.prompts import read_prompt

    classes = list(CLASS_WORDS)
    dim = hash_encoder.dim + len(classes) + len(ATTRIBUTES)
    torch.manual_seed(0)
    vae, den = VoxelVAE(8, 4), LatentDenoiser(8, dim, 32, 1)
    head = AttributeHead(hash_encoder.dim, len(ATTRIBUTES))
    arch = {"latent": 8, "width": 4, "text_dim": dim, "prior_width": 32, "prior_blocks": 1}
    info = {
        "name": "tiny-tokens",
        "threshold": 0.5,
        "architecture": arch,
        "conditioning": "sentence+class+attributes",
        "classes": classes,
    }
    gen = TextToShape(vae, den, np.zeros(8), np.ones(8), info, hash_encoder, head)
    cond = gen.condition(read_prompt("a tall sofa", hash_encoder))
    assert cond.shape == (1, dim)
    onehot = cond[0, hash_encoder.dim : hash_encoder.dim + len(classes)]
    assert onehot.argmax().item() == classes.index("sofa") and onehot.sum().item() == 1.0
    assert torch.all(cond[0, -len(ATTRIBUTES) :].abs() <= 1.0)
    save_generator(tmp_path / "t", vae, den, np.zeros(8), np.ones(8), info, head)
    again = load_generator(tmp_path / "t", encoder=hash_encoder)
    assert again.head is not None
    a = gen.generate("a tall sofa", variations=2, seed=1, steps=4).probability
    b = again.generate("a tall sofa", variations=2, seed=1, steps=4).probability
    np.testing.assert_allclose(a, b, atol=0.02)


def test_caption_words_name_what_the_sentence_says():
    from voxforge.nn.generate.captions import (
        ShapeAttributes,
        attribute_token,
        caption,
        caption_with_words,
    )

    attrs = ShapeAttributes("table", ["tall", "thin", "open"], legs=4)
    for seed in range(20):
        text, words = caption_with_words(attrs, np.random.default_rng(seed))
        assert text == caption(attrs, np.random.default_rng(seed))
        assert set(words) <= {"tall", "thin", "open"}
        token = attribute_token(words)
        assert token[0] == (1.0 if "tall" in words else 0.0)
        assert token[3] == (-1.0 if "thin" in words else 0.0)
        assert token[4] == (1.0 if "open" in words else 0.0)
