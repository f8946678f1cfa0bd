"""Small stand-ins for the generator tests: a hashing sentence encoder and a tiny random model."""

from __future__ import annotations

import hashlib

import numpy as np
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


def tiny_generator(encoder: HashEncoder | None = None) -> TextToShape:
    """An untrained generator (random weights, seeded) over the hashing encoder."""
    encoder = encoder or HashEncoder()
    torch.manual_seed(0)
    vae = VoxelVAE(latent=8, width=4)
    den = LatentDenoiser(latent=8, text_dim=encoder.dim, width=32, blocks=1)
    arch = {"latent": 8, "width": 4, "text_dim": encoder.dim, "prior_width": 32, "prior_blocks": 1}
    info = {"name": "tiny", "threshold": 0.5, "architecture": arch}
    return TextToShape(vae, den, np.zeros(8), np.ones(8), info, encoder=encoder)


def box_generator() -> TextToShape:
    """The tiny generator with a decoder that draws a box whose height follows the latent."""
    gen = tiny_generator()

    def decode(z: torch.Tensor) -> torch.Tensor:
        out = torch.full((z.shape[0], 32, 32, 32), -6.0)
        for i, h in enumerate((12 + 8 * torch.tanh(z[:, 0])).round().int().tolist()):
            out[i, 10:20, 12:16, 0:h] = 6.0
        return out

    gen.vae.decode = decode  # type: ignore[method-assign]
    return gen
