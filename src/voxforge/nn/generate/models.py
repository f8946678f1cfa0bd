"""Networks of the text-to-shape generator: a voxel autoencoder and a latent denoiser.

The autoencoder compresses a 32³ occupancy grid to a short latent vector (a VAE with a small KL
weight, so nearby latents decode to nearby shapes). The denoiser is a small residual MLP that
learns the distribution of those latents given a sentence embedding (DDPM, epsilon prediction,
cosine schedule); dropping the sentence during training gives the unconditional model that
classifier-free guidance mixes in at sampling time.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class VoxelVAE(nn.Module):
    """32³ occupancy <-> ``latent``-d vector. ``decode`` returns occupancy logits (N, 32, 32, 32)."""

    def __init__(self, latent: int = 64, width: int = 16) -> None:
        super().__init__()
        w = width
        self.latent = latent
        self.enc = nn.Sequential(
            nn.Conv3d(1, w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv3d(w, 2 * w, 4, 2, 1), nn.BatchNorm3d(2 * w), nn.LeakyReLU(0.2),
            nn.Conv3d(2 * w, 4 * w, 4, 2, 1), nn.BatchNorm3d(4 * w), nn.LeakyReLU(0.2),
            nn.Flatten(),
        )  # fmt: skip
        self.to_stats = nn.Linear(4 * w * 64, 2 * latent)
        self.from_latent = nn.Linear(latent, 4 * w * 64)
        self.dec = nn.Sequential(
            nn.BatchNorm3d(4 * w), nn.ReLU(),
            nn.ConvTranspose3d(4 * w, 2 * w, 4, 2, 1), nn.BatchNorm3d(2 * w), nn.ReLU(),
            nn.ConvTranspose3d(2 * w, w, 4, 2, 1), nn.BatchNorm3d(w), nn.ReLU(),
            nn.ConvTranspose3d(w, 1, 4, 2, 1),
        )  # fmt: skip
        self.width = w

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 32, 32, 32) occupancy -> latent mean and log-variance, each (N, latent)."""
        stats = self.to_stats(self.enc(x.unsqueeze(1)))
        mu, logvar = stats.chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 6.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(N, latent) -> (N, 32, 32, 32) occupancy logits."""
        h = self.from_latent(z).view(-1, 4 * self.width, 4, 4, 4)
        return self.dec(h).squeeze(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decode(z), mu, logvar


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of (N,) float steps in [0, 1] -> (N, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * 1000.0 * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class _ResBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class LatentDenoiser(nn.Module):
    """Predicts the noise in a noisy latent given the step and a sentence embedding (or none)."""

    def __init__(self, latent: int = 64, text_dim: int = 384, width: int = 512, blocks: int = 4) -> None:
        super().__init__()
        self.latent, self.text_dim = latent, text_dim
        self.inp = nn.Linear(latent, width)
        self.time = nn.Sequential(nn.Linear(128, width), nn.SiLU(), nn.Linear(width, width))
        self.text = nn.Sequential(nn.Linear(text_dim, width), nn.SiLU(), nn.Linear(width, width))
        self.null_text = nn.Parameter(torch.zeros(text_dim))
        self.blocks = nn.ModuleList(_ResBlock(width) for _ in range(blocks))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, latent))

    def forward(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor | None) -> torch.Tensor:
        """x (N, latent), t (N,) in [0, 1], text (N, text_dim) or None for the unconditional model."""
        if text is None:
            text = self.null_text.expand(x.shape[0], -1)
        h = self.inp(x) + self.time(timestep_embedding(t, 128)) + self.text(text)
        for block in self.blocks:
            h = block(h)
        return self.out(h)


def cosine_alpha_bar(t: torch.Tensor) -> torch.Tensor:
    """Cumulative signal share at step t in [0, 1] (the cosine schedule)."""
    s = 0.008
    return torch.cos((t + s) / (1 + s) * math.pi / 2).clamp(min=1e-5) ** 2


class AttributeHead(nn.Module):
    """Sentence embedding -> for each attribute of ``ATTRIBUTES`` the logits of (low, unsaid, high).

    Trained on the training captions (whose words are known), it turns any sentence into the
    attribute token the denoiser is conditioned on beside the sentence itself; held-back words
    ("towering", "spindly") reach it only through the sentence encoder.
    """

    def __init__(self, text_dim: int = 384, attributes: int = 5) -> None:
        super().__init__()
        self.attributes = attributes
        self.net = nn.Sequential(nn.Linear(text_dim, 256), nn.SiLU(), nn.Linear(256, 3 * attributes))

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        """(N, text_dim) -> (N, attributes, 3) logits."""
        return self.net(emb).view(-1, self.attributes, 3)

    @torch.no_grad()
    def token(self, emb: torch.Tensor) -> torch.Tensor:
        """(N, text_dim) -> (N, attributes) in [-1, 1]: P(high word) - P(low word)."""
        p = torch.softmax(self(emb), dim=-1)
        return p[..., 2] - p[..., 0]


def condition(emb: torch.Tensor, cls: torch.Tensor, token: torch.Tensor, classes: int) -> torch.Tensor:
    """The denoiser's conditioning: sentence embedding, class one-hot, attribute token, side by side.

    ``emb`` (N, D), ``cls`` (N,) class indices, ``token`` (N, attributes)
    -> (N, D + classes + attributes).
    """
    onehot = nn.functional.one_hot(cls.long(), classes).float()
    return torch.cat([emb.float(), onehot, token.float()], dim=1)
