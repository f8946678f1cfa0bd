"""Text and a picture together: ``voxforge generate "with armrests" --image chair.jpg``.

The picture gives the shape, the sentence the change. The shipped image reconstruction network
(:mod:`voxforge.nn.reconstruct`) turns the photo into a 32³ occupancy grid; the generator's VAE
encodes that grid to a latent; the latent is noised to step ``strength`` of the denoising chain and
denoised from there under the sentence's condition (SDEdit). A low ``strength`` keeps the
picture's shape, 1 ignores it. Each variation draws its own noise, so variations differ around the
picture's shape.

The class: the one the prompt names; a prompt that names none ("with armrests") takes the class the
shipped voxel classifier reads in the reconstructed grid, and says so in the note.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxforge.core.errors import ConfigError, GeometryError
from voxforge.nn.generate.captions import CLASS_WORDS
from voxforge.nn.generate.generator import (
    MAX_VARIATIONS,
    Generation,
    TextToShape,
    clean_occupancy,
)
from voxforge.nn.generate.prompts import PromptReading, check_prompt, find_class

DEFAULT_STRENGTH = 0.6
"""Share of the denoising chain run from the picture's latent (0 keeps it, 1 ignores it)."""
IMAGE_THRESHOLD = 0.4
"""Occupancy at which the reconstruction counts as filled (the reconstruction job's default)."""


@dataclass
class PictureShape:
    """The picture as a 32³ shape: reconstruction probabilities, the grid at the threshold, and
    how the photo was cut out (``method``)."""

    probability: np.ndarray
    occupancy: np.ndarray
    method: str


def picture_shape(image: Path | str | bytes, reconstructor: Any = None) -> PictureShape:
    """Reconstruct one photo to a 32³ grid with the shipped image network.

    Raises:
        InputFormatError, UnsupportedInputError, SizeLimitError, GeometryError: not a usable
            picture (see :func:`voxforge.nn.reconstruct.photo.prepare_image`), or nothing found in it.
    """
    from voxforge.nn.reconstruct.photo import prepare_image

    name = str(image) if isinstance(image, str | Path) else "image"
    prepared = prepare_image(image, name=name)
    if reconstructor is None:
        from voxforge.nn.reconstruct.inference import load_reconstructor

        reconstructor = load_reconstructor("image")
    prob = np.asarray(reconstructor.predict([prepared.image]).occupancy, np.float32)
    occ = prob >= IMAGE_THRESHOLD
    if not occ.any():
        raise GeometryError(
            f"{name}: the reconstruction found no object in the picture (highest occupancy "
            f"{float(prob.max()):.2f}); use a photo of one piece of furniture on a plain background"
        )
    return PictureShape(prob, occ, str(prepared.method))


def read_with_picture(prompt: str, picture: PictureShape, classifier: Any = None) -> PromptReading:
    """The prompt's reading; a prompt naming no class gets the class seen in the picture."""
    text = check_prompt(prompt)
    cls = find_class(text)
    if cls is not None:
        return PromptReading(text, cls, True, 1.0, text)
    if classifier is None:
        from voxforge.nn.classify.inference import load_classifier

        classifier = load_classifier("classifier-voxel")
    proba = classifier.predict_proba(picture.occupancy[None].astype(np.uint8), views=4)[0]
    cls = str(classifier.classes[int(np.argmax(proba))])
    if cls not in CLASS_WORDS:
        raise ConfigError(f"the classifier's class {cls!r} is not one the generator makes")
    note = (
        f"the prompt names no object; the picture looks like a {cls.replace('_', ' ')} "
        f"(classifier confidence {float(proba.max()):.2f}), so a {cls.replace('_', ' ')} was made"
    )
    return PromptReading(text, cls, False, float(proba.max()), f"{text}, a {CLASS_WORDS[cls][0]}", note)


def generate_with_picture(
    gen: TextToShape,
    prompt: str,
    picture: PictureShape,
    variations: int = 4,
    seed: int = 0,
    guidance: float | None = None,
    steps: int = 40,
    strength: float = DEFAULT_STRENGTH,
    classifier: Any = None,
) -> Generation:
    """``variations`` shapes that start from the picture's shape and follow the prompt.

    Raises:
        PromptError: unusable prompt. ConfigError: options out of range.
    """
    if not 1 <= variations <= MAX_VARIATIONS:
        raise ConfigError(f"variations must be 1..{MAX_VARIATIONS}, got {variations}")
    if not 0.0 < strength <= 1.0:
        raise ConfigError(f"image strength must be in (0, 1], got {strength}")
    guidance = gen.resolve_guidance(guidance)
    reading = read_with_picture(prompt, picture, classifier)
    gen.encoder  # noqa: B018 - load the sentence encoder outside the timed part
    t0 = time.perf_counter()
    cond = gen.condition(reading).expand(variations, -1)
    start = gen.encode(picture.occupancy[None]).expand(variations, -1)
    prob = gen.sample(cond, seed, guidance, steps, start=start, strength=strength)
    occ = np.stack([clean_occupancy(p, gen.threshold) for p in prob])
    info = {"image_strength": strength, "image_filled_cells": int(picture.occupancy.sum())}
    return Generation(reading, prob, occ, time.perf_counter() - t0, info)
