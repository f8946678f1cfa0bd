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
