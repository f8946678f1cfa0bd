"""Reading a prompt: checks that it is usable text and finds the object class it names.

A prompt must be non-empty, at most :data:`MAX_PROMPT_CHARS` characters and mostly Latin letters
(the sentence encoder is English). The class is the longest class word of
:data:`~voxforge.nn.generate.captions.CLASS_WORDS` found in it; a prompt that names none gets the
class whose words its embedding is nearest to, and says so, so a user never gets a silent random
shape for "a spaceship".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from voxforge.core.errors import PromptError
from voxforge.nn.encoders.text import TextEncoder
from voxforge.nn.generate.captions import CLASS_WORDS

MAX_PROMPT_CHARS = 300
"""Longest prompt accepted (captions are one short sentence; longer text only dilutes it)."""


def known_classes() -> str:
    """The classes as a user reads them: "bathtub, bed, chair, ..."."""
    return ", ".join(c.replace("_", " ") for c in CLASS_WORDS)


@dataclass
class PromptReading:
    """What a prompt asks for.

    Attributes:
        prompt: the prompt, whitespace collapsed.
        cls: the class generated.
        named: True when the prompt names the class, False when it was the nearest one.
        similarity: cosine similarity of the prompt to the class's words (nearest-class case).
        condition: the sentence the generator is conditioned on (the prompt, with the class word
            appended when the prompt named none).
        note: a line for the user, or "".
    """

    prompt: str
    cls: str
    named: bool
    similarity: float
    condition: str
    note: str = ""


def check_prompt(prompt: str) -> str:
    """The prompt with whitespace collapsed; raises :class:`PromptError` for unusable text."""
    text = " ".join(str(prompt).split())
    if not text:
        raise PromptError(
            "the prompt is empty; describe an object, e.g. 'a low wide sofa' "
            f"(it makes: {known_classes()})"
        )
    if len(text) > MAX_PROMPT_CHARS:
        raise PromptError(
            f"the prompt has {len(text):,} characters, at most {MAX_PROMPT_CHARS} are read; "
            f"describe one object in a sentence (it makes: {known_classes()})"
        )
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        raise PromptError(
            f"the prompt has no words; describe an object in English (it makes: {known_classes()})"
        )
    latin = sum(1 for ch in letters if "LATIN" in unicodedata.name(ch, ""))
    if latin / len(letters) < 0.5:
        raise PromptError(
            "the prompt is not in the Latin alphabet; the text encoder reads English only "
            f"(it makes: {known_classes()})"
        )
    return text


def find_class(text: str) -> str | None:
    """The class whose longest word appears in ``text`` (whole words, case-insensitive), or None."""
    low = text.lower()
    best, best_len = None, 0
    for cls, words in CLASS_WORDS.items():
        for w in words:
            if len(w) > best_len and re.search(rf"\b{re.escape(w)}s?\b", low):
                best, best_len = cls, len(w)
    return best


def read_prompt(prompt: str, encoder: TextEncoder) -> PromptReading:
    """Check a prompt and find its class (nearest by embedding when it names none)."""
    text = check_prompt(prompt)
    cls = find_class(text)
    if cls is not None:
        return PromptReading(text, cls, True, 1.0, text)
    classes = list(CLASS_WORDS)
    phrases = [f"a {w}" for c in classes for w in CLASS_WORDS[c]]
    owner = [c for c in classes for _ in CLASS_WORDS[c]]
    emb = encoder.encode([text, *phrases])
    sims = emb[1:] @ emb[0]
    best = int(np.argmax(sims))
    cls = owner[best]
    name = cls.replace("_", " ")
    note = (
        f"the prompt names no object it knows (it makes: {known_classes()}); "
        f"the nearest class, {name} (similarity {float(sims[best]):.2f}), was used"
    )
    return PromptReading(text, cls, False, float(sims[best]), f"{text}, a {CLASS_WORDS[cls][0]}", note)
