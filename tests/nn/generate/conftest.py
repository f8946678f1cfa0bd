"""Small stand-ins for the generator tests: a hashing sentence encoder and a tiny random model."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from voxforge.nn.generate.generator import TextToShape
from voxforge.nn.generate.models import LatentDenoiser, VoxelVAE


class HashEncoder:
    """Deterministic bag-of-words vectors (no network, no model files)."""

    name = "hash"
    dim = 32

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                h = int(hashlib.sha1(w.encode()).hexdigest(), 16)
                out[i, h % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)


@pytest.fixture
def hash_encoder() -> HashEncoder:
    return HashEncoder()


@pytest.fixture
def tiny_generator(hash_encoder: HashEncoder) -> TextToShape:
    """An untrained generator whose decoder output is biased so shapes are non-empty."""
    torch.manual_seed(0)
    vae = VoxelVAE(latent=8, width=4)
    with torch.no_grad():
        vae.dec[-1].bias.fill_(0.0)
    den = LatentDenoiser(latent=8, text_dim=hash_encoder.dim, width=32, blocks=1)
    info = {"name": "tiny", "threshold": 0.5, "architecture": {"latent": 8, "width": 4, "text_dim": 32, "prior_width": 32, "prior_blocks": 1}}
    return TextToShape(vae, den, np.zeros(8), np.ones(8), info, encoder=hash_encoder)
