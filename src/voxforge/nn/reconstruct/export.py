"""Export a whole image -> voxel model (encoder and decoder together) as ONNX or Core ML.

The phone app runs the network on the device. The exported graph takes what a camera gives,
``images`` (B, 128, 128, 3) float32 sRGB pixel values 0..255 (a photo already cut out and framed
by :func:`voxforge.nn.reconstruct.photo.prepare_image`), and returns per image, for

* a ``featvox`` model (pretrained encoder + voxel decoder): ``occupancy`` (B, 32, 32, 32)
  probabilities in the view's yaw frame, ``scores`` (B, 32, 32, 32) Pix2Vox fusion scores, and
  ``pooled`` (B, 1280) encoder features (the familiarity check of the JSON sidecar compares them
  to the class centroids);
* a ``reconnet`` object-frame model: ``occupancy`` in the object's frame, ``confidence`` (B, 32,
  32, 32) per-voxel fusion weights, and ``azimuth`` (B, bins) probabilities of the camera azimuth.

The graph is one plain pass: a model whose sidecar sets ``flip_tta`` averages it with the pass
of the left-right mirrored picture, flipped back along the grid's y axis (axis 2 of the
outputs), which the app does by running the graph twice. Thresholding, the fusion of several
views and marching cubes stay in the app (they are cheap and
need no weights; :mod:`voxforge.nn.reconstruct.inference` documents them). The batch axis is
dynamic in ONNX. :func:`check_onnx` runs onnxruntime beside torch on the same images.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from voxforge.core.errors import ConfigError
from voxforge.nn.weights import coremltools_module

log = logging.getLogger(__name__)

IMAGE_SIZE = 128


class ExportNet(nn.Module):
    """(B, 128, 128, 3) float pixels 0..255 -> the named output tensors of a loaded model."""

    def __init__(self, reconstructor: Any) -> None:
        super().__init__()
        net = getattr(reconstructor, "net", None)
        if net is not None and hasattr(net, "decoder"):  # featvox
            if getattr(reconstructor, "refiner", None) is not None:
                raise ConfigError(
                    "export of a featvox model with a refiner is not supported (the graph would "
                    "leave the refiner out)"
                )
            self.kind = "featvox"
            self.net = net
            self.output_names = ["occupancy", "scores", "pooled"]
        elif getattr(getattr(reconstructor, "model", None), "azimuth", None) is not None:
            self.kind = "reconnet"
            self.net = reconstructor.model
            self.output_names = ["occupancy", "confidence", "azimuth"]
        else:
            raise ConfigError(
                "export needs a featvox model or an object-frame reconnet (with an azimuth head)"
            )
        self.net.eval()

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = images.permute(0, 3, 1, 2) / 255.0
        if self.kind == "featvox":
            f = self.net.encoder(x)
            logits, scores = self.net.decoder(f.mid, f.top, f.pooled)
            return torch.sigmoid(logits), scores, f.pooled
        out = self.net(x, heads=("voxels",))
        return (
            torch.sigmoid(out.voxel_logits),
            torch.sigmoid(out.confidence_logits),
            torch.softmax(out.azimuth_logits, dim=1),
        )


def example_images(batch: int = 2, seed: int = 0) -> torch.Tensor:
    """A (batch, 128, 128, 3) float32 batch of pixel values: a light background with a random
    dark box (tracing and checks need no real picture)."""
    rng = np.random.default_rng(seed)
    img = np.full((batch, IMAGE_SIZE, IMAGE_SIZE, 3), 235.0, np.float32)
    for b in range(batch):
        x0, y0 = rng.integers(20, 50, 2)
        x1, y1 = rng.integers(80, 110, 2)
        img[b, y0:y1, x0:x1] = rng.uniform(20, 200, 3)
    return torch.from_numpy(img + rng.normal(0, 3, img.shape).astype(np.float32))


def export_onnx(reconstructor: Any, path: str | Path, *, opset: int = 17) -> Path:
    """Write the whole image -> voxel model as ONNX (input ``images``, outputs per the module doc,
    dynamic batch axis)."""
    net = ExportNet(reconstructor).cpu()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {name: {0: "batch"} for name in ["images", *net.output_names]}
    with torch.no_grad():
        torch.onnx.export(
            net,
            (example_images(),),
            str(path),
            input_names=["images"],
            output_names=net.output_names,
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    return path


def check_onnx(reconstructor: Any, path: str | Path, images: np.ndarray) -> dict[str, float]:
    """Run (B, 128, 128, 3) ``images`` through onnxruntime and torch: the largest absolute
    difference of each output and the share of voxels on the same side of 0.4 (1.0 expected)."""
    import onnxruntime as ort

    net = ExportNet(reconstructor).cpu()
    x = np.ascontiguousarray(images, dtype=np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"images": x})
    with torch.no_grad():
        ref = [t.numpy() for t in net(torch.from_numpy(x))]
    result = {
        f"max_abs_diff_{name}": float(np.abs(g - r).max())
        for name, g, r in zip(net.output_names, got, ref, strict=True)
    }
    result["same_voxels"] = float(((got[0] >= 0.4) == (ref[0] >= 0.4)).mean())
    return result


def export_coreml(reconstructor: Any, path: str | Path) -> Path:
    """Convert to a Core ML ``.mlpackage`` (ML program, one image per call) with coremltools.

    Conversion runs anywhere coremltools installs; running the model needs macOS.

    Raises:
        UnsupportedInputError: coremltools is not installed.
    """
    ct = coremltools_module()
    net = ExportNet(reconstructor).cpu()
    x = example_images(batch=1)
    with torch.no_grad():
        traced = torch.jit.trace(net, x)
    mlmodel = ct.convert(
        traced,
        inputs=[ct.TensorType(name="images", shape=tuple(x.shape))],
        outputs=[ct.TensorType(name=n) for n in net.output_names],
        convert_to="mlprogram",
        minimum_deployment_target=ct.target.iOS16,
    )
    name = getattr(reconstructor, "info", {}).get("name", net.kind)
    mlmodel.short_description = f"voxforge {name}: image -> 32^3 occupancy"
    path = Path(path)
    mlmodel.save(str(path))
    return path


def main(argv: list[str] | None = None) -> None:
    """``python -m voxforge.nn.reconstruct.export OUT.onnx [--weights STEM] [--sketch]
    [--coreml OUT.mlpackage]``: export the shipped (or given) model and check it with onnxruntime."""
    import argparse
    import json

    from voxforge.nn.reconstruct.inference import load_reconstructor

    ap = argparse.ArgumentParser(prog="voxforge.nn.reconstruct.export")
    ap.add_argument("out", type=Path)
    ap.add_argument("--weights", type=Path)
    ap.add_argument("--sketch", action="store_true")
    ap.add_argument("--coreml", type=Path)
    a = ap.parse_args(argv)
    rec = load_reconstructor("sketch" if a.sketch else "image", a.weights, "cpu")
    path = export_onnx(rec, a.out)
    check = check_onnx(rec, path, example_images(4, seed=1).numpy())
    print(json.dumps({"onnx": str(path), **check}))
    if a.coreml:
        print(json.dumps({"coreml": str(export_coreml(rec, a.coreml))}))


if __name__ == "__main__":
    main()
