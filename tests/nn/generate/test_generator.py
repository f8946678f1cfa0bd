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


def test_retrain_attribute_head_keeps_vae_and_denoiser(hash_encoder, tmp_path, monkeypatch):
    """A head-only retraining (with embedding noise) writes a new head beside the base generator's
    unchanged VAE and denoiser, records its config, and refuses a cache of other captions."""
    import json

    import pytest
    import torch
    from safetensors.torch import load_file

    import voxforge.nn.encoders.text as text_encoders
    from voxforge.nn.generate.captions import ATTRIBUTES, CLASS_WORDS
    from voxforge.nn.generate.models import AttributeHead, LatentDenoiser, VoxelVAE
    from voxforge.nn.generate.train import GenerateTrainConfig, retrain_attribute_head

    classes = list(CLASS_WORDS)
    rng = np.random.default_rng(0)
    vox = np.zeros((60, 30, 30, 30), np.uint8)
    for i in range(60):
        x, y, z = rng.integers(4, 26, 3)
        vox[i, :x, :y, :z] = 1
    data = tmp_path / "set.npz"
    np.savez(data, voxels=vox, labels=np.arange(60) % 10, classes=np.array(classes))
    monkeypatch.setattr(text_encoders, "load_text_encoder", lambda name: hash_encoder)
    dim = hash_encoder.dim + len(classes) + len(ATTRIBUTES)
    torch.manual_seed(0)
    head0 = AttributeHead(hash_encoder.dim, len(ATTRIBUTES))
    arch = {"latent": 8, "width": 4, "text_dim": dim, "prior_width": 32, "prior_blocks": 1}
    info = {"name": "base", "threshold": 0.5, "architecture": arch, "classes": classes}
    info |= {"conditioning": "sentence+class+attributes", "training": {"config": {"seed": 0}}}
    base = tmp_path / "base"
    save_generator(
        base, VoxelVAE(8, 4), LatentDenoiser(8, dim, 32, 1), np.zeros(8), np.ones(8), info, head0
    )
    cfg = GenerateTrainConfig(data=str(data), captions_per_shape=4, head_steps=100, head_noise=0.02)
    retrain_attribute_head(cfg, base, tmp_path / "new", tmp_path / "work")
    old, new = load_file(str(base) + ".safetensors"), load_file(str(tmp_path / "new") + ".safetensors")
    assert old.keys() == new.keys()
    assert all(torch.equal(old[k], new[k]) for k in old if not k.startswith("head."))
    assert any(not torch.equal(old[k], new[k]) for k in old if k.startswith("head."))
    meta = json.loads((tmp_path / "new.json").read_text())
    assert meta["training"]["config"]["head_noise"] == 0.02
    assert meta["training"]["captions"] == 4 * 50  # 4 per training shape, 50 of 60 in training
    assert load_generator(tmp_path / "new", encoder=hash_encoder).head is not None
    other = cfg.model_copy(update={"seed": 5})
    with pytest.raises(ConfigError, match="other captions"):
        retrain_attribute_head(other, base, tmp_path / "new2", tmp_path / "work")


def test_attribute_guidance_pushes_along_the_attribute_token(hash_encoder):
    """``attribute_guidance`` in the sidecar adds the direction of the attribute token: it changes
    the samples of a model whose denoiser reads the token, and only of such a model."""
    import torch

    from voxforge.nn.generate.captions import ATTRIBUTES, CLASS_WORDS
    from voxforge.nn.generate.generator import TextToShape
    from voxforge.nn.generate.models import AttributeHead, LatentDenoiser, VoxelVAE
    from voxforge.nn.generate.prompts import read_prompt

    classes = list(CLASS_WORDS)
    dim = hash_encoder.dim + len(classes) + len(ATTRIBUTES)
    torch.manual_seed(0)
    vae, den, head = VoxelVAE(8, 4), LatentDenoiser(8, dim, 32, 1), AttributeHead(hash_encoder.dim)
    arch = {"latent": 8, "width": 4, "text_dim": dim, "prior_width": 32, "prior_blocks": 1}
    info = {"name": "t", "threshold": 0.5, "architecture": arch, "classes": classes}
    info["conditioning"] = "sentence+class+attributes"

    def latents(scale: float, denoiser: LatentDenoiser) -> torch.Tensor:
        gen = TextToShape(
            vae,
            denoiser,
            np.zeros(8),
            np.ones(8),
            {**info, "attribute_guidance": scale},
            hash_encoder,
            head,
        )
        cond = gen.condition(read_prompt("a tall sofa", hash_encoder)).expand(2, -1)
        return gen.sample_latents(cond, seed=1, guidance=3.0, steps=4)

    assert not torch.allclose(latents(0.0, den), latents(2.0, den))
    blind = LatentDenoiser(8, dim, 32, 1)
    blind.load_state_dict(den.state_dict())
    with torch.no_grad():
        blind.text[0].weight[:, -len(ATTRIBUTES) :] = 0.0  # reads no token
    torch.testing.assert_close(latents(0.0, blind), latents(2.0, blind))
