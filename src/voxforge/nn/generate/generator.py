"""Text to 32³ shape: sentence embedding -> latent denoiser (DDIM, guided) -> VAE decoder.

:class:`TextToShape` holds the trained networks and the latent normalisation; ``generate`` reads
the prompt (:mod:`voxforge.nn.generate.prompts`), draws ``variations`` latents from seeded noise and
decodes each to an occupancy probability grid. ``guidance`` is the classifier-free guidance scale:
1 samples the conditional model as trained, higher values follow the prompt more closely at the
cost of variety, 0 ignores the prompt.

Weights live in ``models/<name>.safetensors`` with a JSON sidecar (architecture, latent statistics,
threshold, training and metrics) and a model card ``models/<name>.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from voxforge.core.errors import ConfigError, GeometryError
from voxforge.nn.encoders.text import TextEncoder, load_text_encoder
from voxforge.nn.generate.captions import ATTRIBUTES
from voxforge.nn.generate.models import (
    AttributeHead,
    LatentDenoiser,
    VoxelVAE,
    condition,
    cosine_alpha_bar,
)
from voxforge.nn.generate.prompts import PromptReading, read_prompt

DEFAULT_MODEL = "generator-text"
DEFAULT_GUIDANCE = 3.5
"""Guidance scale of a model whose sidecar names none (the shipped one names its own, chosen on
training phrasings; see its model card)."""
MAX_VARIATIONS = 16


@dataclass
class Generation:
    """Shapes made for one prompt.

    Attributes:
        reading: how the prompt was read (class, note).
        probability: (N, 32, 32, 32) float32 occupancy probabilities, one per variation.
        occupancy: (N, 32, 32, 32) bool, at the threshold, specks removed.
        seconds: wall time of the call (reading the prompt, sampling, decoding; not loading the
            sentence encoder, which happens once per process).
    """

    reading: PromptReading
    probability: np.ndarray
    occupancy: np.ndarray
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


class TextToShape:
    """The trained generator; build with :func:`load_generator`."""

    def __init__(
        self,
        vae: VoxelVAE,
        denoiser: LatentDenoiser,
        latent_mean: np.ndarray,
        latent_std: np.ndarray,
        info: dict[str, Any],
        encoder: TextEncoder | None = None,
        head: AttributeHead | None = None,
    ) -> None:
        self.vae, self.denoiser = vae.eval(), denoiser.eval()
        self.head = head.eval() if head is not None else None
        self.classes: list[str] = list(info.get("classes", []))
        self.mean = torch.from_numpy(np.asarray(latent_mean, np.float32))
        self.std = torch.from_numpy(np.asarray(latent_std, np.float32))
        self.info = info
        self.threshold = float(info.get("threshold", 0.5))
        self._encoder = encoder

    @property
    def encoder(self) -> TextEncoder:
        if self._encoder is None:
            self._encoder = load_text_encoder(str(self.info.get("text_encoder", "minilm-l6")))
        return self._encoder

    def generate(
        self,
        prompt: str,
        variations: int = 4,
        seed: int = 0,
        guidance: float | None = None,
        steps: int = 40,
    ) -> Generation:
        """Make ``variations`` shapes for ``prompt`` (seeded, so the same call gives the same shapes).

        Raises:
            PromptError: empty, overlong or non-Latin prompt.
            ConfigError: variations, guidance or steps out of range.
        """
        import time

        encoder = self.encoder  # loaded once per process, not part of a shape's time
        t0 = time.perf_counter()
        if not 1 <= variations <= MAX_VARIATIONS:
            raise ConfigError(f"variations must be 1..{MAX_VARIATIONS}, got {variations}")
        guidance = self.resolve_guidance(guidance)
        if not 2 <= steps <= 1000:
            raise ConfigError(f"steps must be 2..1000, got {steps}")
        reading = read_prompt(prompt, encoder)
        cond = self.condition(reading)
        prob = self.sample(cond.expand(variations, -1), seed, guidance, steps)
        occ = np.stack([clean_occupancy(p, self.threshold) for p in prob])
        return Generation(reading, prob, occ, time.perf_counter() - t0)

    def resolve_guidance(self, guidance: float | None) -> float:
        """``guidance``, or the model's own (its sidecar's ``recommended_guidance``) when None."""
        own = self.info.get("recommended_guidance", DEFAULT_GUIDANCE)
        g = float(own) if guidance is None else float(guidance)
        if not 0.0 <= g <= 20.0:
            raise ConfigError(f"guidance must be in 0..20, got {g}")
        return g

    @torch.no_grad()
    def condition(self, reading: PromptReading) -> torch.Tensor:
        """(1, D) what the denoiser reads for a prompt: its sentence embedding and, for a model
        trained with ``conditioning: sentence+class+attributes``, the class one-hot and the attribute
        head's token beside it."""
        emb = torch.from_numpy(self.encoder.encode([reading.condition]))
        if self.head is None:
            return emb
        cls = torch.tensor([self.classes.index(reading.cls)])
        return condition(emb, cls, self.head.token(emb), len(self.classes))

    @torch.no_grad()
    def sample(
        self,
        text: torch.Tensor,
        seed: int,
        guidance: float,
        steps: int,
        start: torch.Tensor | None = None,
        strength: float = 1.0,
    ) -> np.ndarray:
        """(N, D) conditions (:meth:`condition`) -> (N, 32, 32, 32) float32 probabilities (DDIM)."""
        z = self.sample_latents(text, seed, guidance, steps, start, strength)
        return torch.sigmoid(self.vae.decode(z)).numpy()

    @torch.no_grad()
    def encode(self, occupancy: np.ndarray) -> torch.Tensor:
        """(N, 32, 32, 32) occupancy (or probabilities) -> (N, latent) VAE latent means."""
        x = torch.from_numpy(np.ascontiguousarray(occupancy, dtype=np.float32))
        return self.vae.encode(x)[0]

    @torch.no_grad()
    def sample_latents(
        self,
        text: torch.Tensor,
        seed: int,
        guidance: float,
        steps: int,
        start: torch.Tensor | None = None,
        strength: float = 1.0,
    ) -> torch.Tensor:
        """(N, D) conditions (:meth:`condition`) -> (N, latent) VAE latents.

        With ``start`` ((N, latent) VAE latents, e.g. of a reconstructed picture) the chain begins
        at step ``strength`` (0..1) from that latent noised to that step, not from pure noise: low
        strength keeps the start's shape, 1 forgets it (SDEdit).

        A model with an attribute head whose sidecar sets ``attribute_guidance`` (a > 0) adds
        a * (eps(condition) - eps(condition with the attribute token zeroed)) at every step: a
        second classifier-free direction that pushes toward the attributes the prompt asks for.
        """
        gen = torch.Generator().manual_seed(int(seed))
        n = text.shape[0]
        attr_scale = float(self.info.get("attribute_guidance", 0.0)) if self.head is not None else 0.0
        plain = text.clone()
        plain[:, -len(ATTRIBUTES) :] = 0.0  # the same condition with no attribute asked for
        x = torch.randn(n, self.denoiser.latent, generator=gen)
        t_start = 1.0
        if start is not None:
            t_start = float(min(max(strength, 0.0), 1.0))
            ab0 = cosine_alpha_bar(torch.tensor(t_start))
            x0 = (start.float() - self.mean) / self.std
            x = ab0.sqrt() * x0 + (1 - ab0).sqrt() * x
            steps = max(1, round(steps * t_start))
        ts = torch.linspace(t_start, 0.0, steps + 1)
        for i in range(steps):
            t, t_next = ts[i], ts[i + 1]
            tt = torch.full((n,), float(t))
            eps_c = self.denoiser(x, tt, text)
            if guidance != 1.0:
                eps_u = self.denoiser(x, tt, None)
                eps = eps_u + guidance * (eps_c - eps_u)
            else:
                eps = eps_c
            if attr_scale > 0.0:
                eps = eps + attr_scale * (eps_c - self.denoiser(x, tt, plain))
            ab, ab_next = (
                cosine_alpha_bar(t),
                cosine_alpha_bar(t_next) if i < steps - 1 else torch.tensor(1.0),
            )
            x0 = ((x - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-6.0, 6.0)
            x = ab_next.sqrt() * x0 + (1 - ab_next).sqrt() * eps
        return x * self.std + self.mean


def clean_occupancy(prob: np.ndarray, threshold: float) -> np.ndarray:
    """Occupancy at ``threshold`` without specks: parts under 5 % of the largest part are dropped.

    A faint shape whose highest probability stays under ``threshold`` is cut at 80 % of its
    highest probability instead, so a sample is never silently empty.

    Raises:
        GeometryError: the highest probability is under :data:`MIN_PEAK` (no shape at all).
    """
    peak = float(prob.max())
    if peak < MIN_PEAK:
        raise GeometryError(f"the generator made an empty shape (highest occupancy {peak:.2f})")
    occ = prob >= min(threshold, 0.8 * peak)
    lab, n = ndimage.label(occ, structure=np.ones((3, 3, 3), bool))
    if n > 1:
        sizes = np.bincount(lab.ravel())[1:]
        keep = np.flatnonzero(sizes >= 0.05 * sizes.max()) + 1
        occ = np.isin(lab, keep)
    return occ


MIN_PEAK = 0.1
"""Highest occupancy probability under which a sample counts as empty."""


# ------------------------------------------------------------------------------------ weights


def _paths(name: str | Path) -> tuple[Path, Path]:
    p = Path(name)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    if not p.parent.parts or str(p.parent) == ".":
        if not p.with_suffix(".safetensors").exists():
            from voxforge.nn.weights import models_dir

            p = models_dir() / p.name
    return p.with_suffix(".safetensors"), p.with_suffix(".json")


def save_generator(
    stem: str | Path,
    vae: VoxelVAE,
    denoiser: LatentDenoiser,
    latent_mean: np.ndarray,
    latent_std: np.ndarray,
    info: dict[str, Any],
    head: AttributeHead | None = None,
) -> Path:
    """Write ``stem.safetensors`` (float16 weights) and ``stem.json`` (config, statistics, metrics)."""
    from safetensors.torch import save_file

    tensors = {f"vae.{k}": v for k, v in vae.state_dict().items()}
    tensors.update({f"prior.{k}": v for k, v in denoiser.state_dict().items()})
    if head is not None:
        tensors.update({f"head.{k}": v for k, v in head.state_dict().items()})
    tensors = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    tensors["latent_mean"] = torch.from_numpy(np.asarray(latent_mean, np.float32))
    tensors["latent_std"] = torch.from_numpy(np.asarray(latent_std, np.float32))
    st, js = Path(str(stem) + ".safetensors"), Path(str(stem) + ".json")
    save_file(tensors, str(st))
    js.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return st


def load_generator(name: str | Path = DEFAULT_MODEL, encoder: TextEncoder | None = None) -> TextToShape:
    """Load shipped (by name) or local (by path) generator weights.

    Raises:
        ConfigError: the weights or their sidecar are missing or do not fit the architecture.
    """
    from safetensors.torch import load_file

    st, js = _paths(name)
    if not st.is_file() or not js.is_file():
        raise ConfigError(
            f"generator weights {st} (and {js.name}) not found; train them with "
            "voxforge train generator or pass --weights"
        )
    info = json.loads(js.read_text(encoding="utf-8"))
    arch = info["architecture"]
    vae = VoxelVAE(arch["latent"], arch["width"])
    den = LatentDenoiser(arch["latent"], arch["text_dim"], arch["prior_width"], arch["prior_blocks"])
    tensors = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(st)).items()}
    head = None
    if info.get("conditioning", "sentence") != "sentence":
        extra = len(info["classes"]) + len(ATTRIBUTES)
        head = AttributeHead(arch["text_dim"] - extra, len(ATTRIBUTES))
    try:
        vae.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("vae.")})
        den.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("prior.")})
        if head is not None:
            head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
    except RuntimeError as err:
        raise ConfigError(
            f"{st}: weights do not fit the architecture in {js.name} ({str(err).splitlines()[0]})"
        ) from None
    return TextToShape(
        vae, den, tensors["latent_mean"].numpy(), tensors["latent_std"].numpy(), info, encoder, head
    )
