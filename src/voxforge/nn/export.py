"""Ship a trained classifier: checkpoint -> safetensors + JSON, ONNX, Core ML.

The phone app runs models on the device, hence ONNX (checked against onnxruntime) and Core ML.
Exports take the single-view network (voting = run it on the rotated copies, as
:meth:`Classifier.predict_proba` does); the batch dimension stays dynamic in ONNX.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from voxforge.core.errors import ConfigError, UnsupportedInputError
from voxforge.nn.data import GRID
from voxforge.nn.inference import Classifier, save_classifier
from voxforge.nn.models import create_model

log = logging.getLogger(__name__)


def export_checkpoint(
    checkpoint: str | Path, stem: str | Path, extra: dict[str, Any] | None = None
) -> tuple[Path, Path]:
    """Turn a training checkpoint (``best.pt``) into ``<stem>.safetensors`` + ``<stem>.json``."""
    path = Path(checkpoint)
    if not path.is_file():
        raise ConfigError(f"{path}: no such checkpoint")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    meta = ckpt["meta"]
    model = create_model(meta["arch"], **meta["arch_args"])
    model.load_state_dict(ckpt["model"])
    info = {"checkpoint_epoch": int(ckpt["epoch"]), "params": int(meta["params"]), **(extra or {})}
    return save_classifier(
        model, stem, classes=meta["classes"], input_kind=meta["input_kind"], extra=info
    )


def example_input(clf: Classifier, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """A random batch in the model's input contract (for tracing and checks)."""
    rng = np.random.default_rng(seed)
    if clf.input_kind == "voxels":
        return torch.from_numpy((rng.random((batch, 1, GRID, GRID, GRID)) < 0.1).astype(np.float32))
    pts = rng.normal(size=(batch, 1024, 3)).astype(np.float32)
    return torch.from_numpy(pts / np.abs(pts).max())


def export_onnx(clf: Classifier, path: str | Path, *, opset: int = 17) -> Path:
    """Write the network as ONNX with a dynamic batch axis (input ``input``, output ``logits``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clf.model.eval()
    x = example_input(clf)
    torch.onnx.export(
        clf.model,
        (x,),
        str(path),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=opset,
        dynamo=False,
    )
    return path


def check_onnx(clf: Classifier, path: str | Path, x: np.ndarray) -> dict[str, float]:
    """Run ``x`` through onnxruntime and torch; return the largest logit difference and the share
    of identical predicted classes (1.0 expected)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.astype(np.float32)})[0]
    with torch.no_grad():
        ref = clf.model(torch.from_numpy(x.astype(np.float32))).numpy()
    return {
        "max_abs_diff": float(np.abs(got - ref).max()),
        "same_prediction": float((got.argmax(1) == ref.argmax(1)).mean()),
    }


def export_coreml(clf: Classifier, path: str | Path) -> Path:
    """Convert to a Core ML ``.mlpackage`` (ML program) with coremltools.

    Conversion runs anywhere; running the converted model needs macOS (Core ML framework).

    Raises:
        UnsupportedInputError: coremltools is not installed.
    """
    try:
        import coremltools as ct
    except ImportError:
        raise UnsupportedInputError(
            "Core ML export needs coremltools: pip install coremltools"
        ) from None
    clf.model.eval()
    x = example_input(clf, batch=1)
    traced = torch.jit.trace(clf.model, x)
    mlmodel = ct.convert(
        traced,
        inputs=[ct.TensorType(name="input", shape=tuple(x.shape))],
        outputs=[ct.TensorType(name="logits")],
        convert_to="mlprogram",
        minimum_deployment_target=ct.target.iOS16,
    )
    mlmodel.short_description = f"voxforge {clf.info.get('name', '')}: {', '.join(clf.classes)}"
    path = Path(path)
    mlmodel.save(str(path))
    return path
