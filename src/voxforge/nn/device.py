"""Which torch device a network runs or trains on: ``auto``, ``cpu``, ``cuda`` or ``mps``.

``auto`` takes the first that torch can use of CUDA (an NVIDIA GPU), MPS (Apple silicon's GPU)
and the CPU. Asking for ``cuda`` or ``mps`` where torch cannot use it is a one-line ConfigError
rather than a crash deep inside the first tensor copy.
"""

from __future__ import annotations

from typing import Literal

import torch

from voxforge.core.errors import ConfigError

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
"""Accepted values of every ``--device`` option of the reconstruction models."""

DeviceName = Literal["auto", "cpu", "cuda", "mps"]


def cuda_available() -> bool:
    """Torch sees a CUDA device."""
    return bool(torch.cuda.is_available())


def mps_available() -> bool:
    """Torch was built with MPS and the machine has it (Apple silicon, macOS 12.3+)."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str | None) -> str:
    """The torch device string for ``name`` (None means ``auto``).

    Raises:
        ConfigError: an unknown name, or ``cuda``/``mps`` that torch cannot use here.
    """
    want = "auto" if name is None else str(name).strip().lower()
    if want.startswith("cuda:"):  # a numbered GPU
        base = "cuda"
    else:
        base = want
    if base not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if base == "auto":
        if cuda_available():
            return "cuda"
        return "mps" if mps_available() else "cpu"
    if base == "cuda" and not cuda_available():
        raise ConfigError("device 'cuda' requested but torch sees no CUDA device; use --device cpu")
    if base == "mps" and not mps_available():
        raise ConfigError(
            "device 'mps' requested but torch cannot use Apple's MPS here (macOS on Apple silicon "
            "only); use --device cpu"
        )
    return want
