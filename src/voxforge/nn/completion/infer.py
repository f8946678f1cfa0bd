"""The shipped completion network: saving, loading and completing partial grids."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from voxforge.core.errors import ConfigError, GeometryError
from voxforge.nn.completion.model import CompletionUNet
from voxforge.nn.weights import models_dir

GRID = 32
MODEL_NAME = "completion-unet"


def weights_stem() -> Path:
    """``models/completion-unet`` (without suffix) in the shipped models folder."""
    return models_dir() / MODEL_NAME


@dataclass
class Completer:
    """A loaded completion network with its threshold."""

    model: CompletionUNet
    threshold: float = 0.4
    info: dict[str, Any] = field(default_factory=dict)
    tta: bool = False
    """Average the 8 quarter-turn x mirror versions of the input (the training augmentations)."""

    def probabilities(self, partial: np.ndarray, known_empty: np.ndarray) -> np.ndarray:
        """(R, R, R) or (B, R, R, R) occupancy probabilities of partial grids and their masks."""
        p = np.asarray(partial, dtype=bool)
        e = np.asarray(known_empty, dtype=bool)
        single = p.ndim == 3
        if single:
            p, e = p[None], e[None]
        if p.shape != e.shape or p.shape[1:] != (GRID, GRID, GRID):
            raise GeometryError(
                f"completion needs {GRID}³ partial and known-empty grids, got {p.shape[1:]} and "
                f"{e.shape[1:]}"
            )
        from voxforge.nn.completion.train import predict

        x = np.stack([p, e], axis=1).astype(np.float32)
        with torch.inference_mode():
            if not self.tta:
                out = predict(self.model, x)
            else:
                out = np.zeros(p.shape, np.float32)
                for k in range(4):
                    for flip in (False, True):
                        xi = np.rot90(x, k, axes=(2, 3))
                        xi = xi[:, :, ::-1] if flip else xi
                        yi = predict(self.model, np.ascontiguousarray(xi))
                        yi = yi[:, ::-1] if flip else yi
                        out += np.rot90(yi, -k, axes=(1, 2))
                out /= 8
        return out[0] if single else out

    def complete(self, partial: np.ndarray, known_empty: np.ndarray) -> np.ndarray:
        """Completed bool grid(s): probability >= threshold."""
        return self.probabilities(partial, known_empty) >= self.threshold


def save_completer(
    model: CompletionUNet,
    stem: str | Path,
    *,
    threshold: float,
    extra: dict[str, Any],
    tta: bool = False,
) -> tuple[Path, Path]:
    """Write ``<stem>.safetensors`` (float32; the model is small) and ``<stem>.json``."""
    from safetensors.torch import save_file

    from voxforge.core.outputs import atomic_write_bytes

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    st = stem.with_suffix(".safetensors")
    tmp = st.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"arch": "completion-unet"})
    tmp.replace(st)
    info = {
        "name": stem.name,
        "architecture": "completion-unet",
        "arch_args": {"widths": list(model.widths)},
        "weights_dtype": "float32",
        "threshold": threshold,
        "tta": tta,
        "input": {
            "shape": [None, 2, GRID, GRID, GRID],
            "channels": ["partial occupancy (cells with a scan return)",
                         "known empty (cells the camera rays crossed)"],
            "axes": "x, y, z (z up); the object fills at most 30 cells, centred",
        },
        "output": {"occupancy": [GRID] * 3, "meaning": "logits of the complete shape"},
        **extra,
    }  # fmt: skip
    js = stem.with_suffix(".json")
    atomic_write_bytes(js, (json.dumps(info, indent=2) + "\n").encode("utf-8"))
    return st, js


def load_completer(weights: str | Path | None = None) -> Completer:
    """Load ``models/completion-unet.*`` or ``weights`` (``.json``/``.safetensors`` path or stem).

    Raises:
        ConfigError: missing files (naming them and how to train), a sidecar that is not a
            completion model, weights that do not fit.
    """
    from safetensors.torch import load_file

    stem = weights_stem() if weights is None else Path(weights)
    if stem.suffix in (".json", ".safetensors"):
        stem = stem.with_suffix("")
    js, st = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
    if not js.is_file() or not st.is_file():
        raise ConfigError(
            f"completion model {stem.name!r} not found ({js} and {st}); train one with "
            "`voxforge train completion --config configs/completion/unet.yaml`"
        )
    try:
        info = json.loads(js.read_text(encoding="utf-8"))
        if info.get("architecture") != "completion-unet":
            raise KeyError("architecture")
        model = CompletionUNet(tuple(info["arch_args"]["widths"]))
        threshold = float(info["threshold"])
        tta = bool(info.get("tta", False))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"{js}: not a completion model sidecar ({err})") from None
    try:
        model.load_state_dict({k: v.float() for k, v in load_file(str(st)).items()})
    except (RuntimeError, OSError) as err:
        raise ConfigError(
            f"{st}: weights do not fit the completion U-Net ({str(err).splitlines()[0]})"
        ) from None
    model.eval()
    return Completer(model, threshold, info, tta)


def load_checkpoint(path: str | Path) -> Completer:
    """A training run's ``best.pt`` as a :class:`Completer` (threshold 0.4)."""
    try:
        ckpt = torch.load(Path(path), map_location="cpu", weights_only=False)
        model = CompletionUNet(tuple(ckpt["meta"]["widths"]))
        model.load_state_dict(ckpt["model"])
    except (OSError, KeyError, RuntimeError) as err:
        raise ConfigError(f"{path}: not a completion checkpoint ({err})") from None
    model.eval()
    return Completer(model, 0.4, {"checkpoint": str(path), "step": ckpt.get("step")})
