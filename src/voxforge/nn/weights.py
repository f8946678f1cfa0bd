"""Architectures and their shipped weights, shared by every network family.

A registry entry (``builder`` + ``defaults``) becomes a module tagged with ``arch_name`` and
``arch_args``, what checkpoints and JSON sidecars record so a model can be rebuilt. Shipped
weights are ``<stem>.safetensors`` files in the models folder (``$VOXFORGE_MODELS`` or the
repository's ``models/``), read back as float32 whatever precision they were stored in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from voxforge.core.errors import ConfigError, UnsupportedInputError


def models_dir() -> Path:
    """Folder of shipped weights: ``$VOXFORGE_MODELS`` or ``<repo>/models``."""
    env = os.environ.get("VOXFORGE_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "models"


def build_entry(entry: Any, overrides: dict[str, Any], what: str) -> nn.Module:
    """Call a registry entry's ``builder`` with its ``defaults`` updated by ``overrides`` and tag
    the module with ``arch_name`` / ``arch_args`` (what checkpoints and model cards record).

    Raises:
        ConfigError: an argument the builder does not take (``what`` names the registry).
    """
    kwargs = {**entry.defaults, **overrides}
    try:
        model = entry.builder(**kwargs)
    except TypeError as err:
        raise ConfigError(f"{what} {entry.name!r}: {err}") from None
    model.arch_name = entry.name  # type: ignore[assignment]
    model.arch_args = kwargs  # type: ignore[assignment]
    return model


def write_safetensors(
    model: nn.Module, path: Path, *, half: bool = False, metadata: dict[str, str] | None = None
) -> None:
    """Write ``model``'s state dict to ``path`` (through a ``.tmp`` file, renamed when complete);
    ``half`` stores floating tensors as float16 (half the size)."""
    from safetensors.torch import save_file

    tensors = {
        k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in model.state_dict().items()
    }
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` file, floating tensors as float32."""
    from safetensors.torch import load_file

    return {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}


def coremltools_module() -> Any:
    """The ``coremltools`` module for Core ML exports (it converts anywhere it installs; running
    the converted model needs macOS).

    Raises:
        UnsupportedInputError: coremltools is not installed.
    """
    try:
        import coremltools
    except ImportError:
        msg = "Core ML export needs coremltools: pip install coremltools"
        raise UnsupportedInputError(msg) from None
    return coremltools
