"""Reconstructor: input checks, multi-view fusion frames, save/load round trip, shipped weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from voxforge.core.errors import ConfigError, InputFormatError
from voxforge.nn.recon_models import ReconOutput, create_recon_model
from voxforge.nn.reconstruct import (
    Reconstructor,
    fuse_occupancy,
    load_reconstructor,
    resolve_azimuths,
    rotate_points_z,
    save_reconstructor,
)

SHIPPED_IOU_BAR = {"image": 0.22, "sketch": 0.22}
"""Mean single-view IoU the shipped models must beat on four held-out objects (they score 0.277
and 0.283; validation mean about 0.3)."""
TINY = {"encoder_widths": (4, 4, 8, 8, 8), "latent": 16, "voxel_widths": (4, 4, 4),
        "num_points": 64, "head_hidden": 16}  # fmt: skip


class FixedNet(nn.Module):
    """Returns the same occupancy/confidence logits for every image (to test fusion alone)."""

    def __init__(self, occ: np.ndarray, conf: np.ndarray) -> None:
        super().__init__()
        self.occ = torch.from_numpy(occ.astype(np.float32))
        self.conf = torch.from_numpy(conf.astype(np.float32))
        self.mesh_faces = torch.zeros((1, 3), dtype=torch.long)

    def forward(self, x: torch.Tensor) -> ReconOutput:
        b = x.shape[0]
        pts = torch.tensor([[0.25, 0.0, 0.1]]).expand(b, 4, 3)
        return ReconOutput(self.occ.expand(b, 32, 32, 32), self.conf.expand(b, 32, 32, 32), pts, pts)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def _images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (128, 128, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture(scope="module")
def tiny() -> Reconstructor:
    torch.manual_seed(0)
    return Reconstructor(create_recon_model("reconnet", **TINY))


def test_predict_shapes_one_and_three_views(tiny: Reconstructor) -> None:
    one = tiny.predict(_images(1))
    assert one.occupancy.shape == (32, 32, 32) and one.occupancy.dtype == np.float32
    assert one.points.shape == (64, 3) and one.mesh_vertices.shape == (642, 3)
    assert one.mesh_faces.shape == (1280, 3) and one.kind == "image" and one.azimuths == (0.0,)
    assert 0.0 <= one.occupancy.min() and one.occupancy.max() <= 1.0
    three = tiny.predict(_images(3), azimuths=[10.0, 40.0, 100.0])
    assert three.azimuths == (10.0, 40.0, 100.0) and three.points.shape == (64, 3)
    assert np.abs(three.points).max() <= 0.5 + 1e-6


def test_grey_sketch_input_equals_its_rgb_copy(tiny: Reconstructor) -> None:
    grey = _images(1)[0][..., 0]
    a = tiny.predict([grey]).occupancy
    b = tiny.predict([np.repeat(grey[..., None], 3, axis=2)]).occupancy
    np.testing.assert_array_equal(a, b)


def test_fusion_of_a_symmetric_shape_equals_the_single_view() -> None:
    occ = np.full((32, 32, 32), 0.02)
    occ[8:24, 8:24, 4:20] = 0.97  # a box centred in x/y: unchanged by 90° turns
    net = FixedNet(_logit(occ), np.zeros((32, 32, 32)))
    rec = Reconstructor(net)
    single = rec.predict(_images(1)).occupancy
    fused = rec.predict(_images(2), azimuths=[0.0, 90.0]).occupancy
    np.testing.assert_allclose(fused, single, atol=1e-5)
    np.testing.assert_allclose(single, occ, atol=1e-6)


def test_fusion_turns_the_second_view_into_the_first_frame() -> None:
    # view 1 is sure of a block on its +x side; view 0 predicts nothing and is unsure
    p1 = np.full((2, 32, 32, 32), 0.01, np.float32)
    p1[1, 26:30, 14:18, 0:10] = 0.99
    conf = np.stack([np.full((32, 32, 32), 0.05), np.full((32, 32, 32), 0.95)]).astype(np.float32)
    fused, w = fuse_occupancy(p1, conf, np.array([20.0, 110.0]))
    # +90° (counter-clockwise from above) moves +x to +y
    assert fused[14:18, 26:30, 0:10].min() > 0.9
    assert fused[26:30, 14:18, 0:10].max() < 0.1
    np.testing.assert_allclose(w.sum(axis=0), 1.0, atol=1e-6)
    np.testing.assert_allclose(w[1, 5, 5, 5], 0.95, atol=1e-4)


def test_points_turn_like_grids() -> None:
    p = np.array([[0.25, 0.0, 0.1]], np.float32)
    np.testing.assert_allclose(rotate_points_z(p, 90.0), [[0.0, 0.25, 0.1]], atol=1e-7)


def test_azimuths_default_to_equal_steps_and_must_match() -> None:
    np.testing.assert_allclose(resolve_azimuths(4, None), [0, 90, 180, 270])
    np.testing.assert_allclose(resolve_azimuths(1, None), [0])
    with pytest.raises(ConfigError, match="2 images but 3 azimuths"):
        resolve_azimuths(2, [0.0, 1.0, 2.0])


@pytest.mark.parametrize(
    ("images", "match"),
    [
        ([], "non-empty list"),
        ([np.zeros((64, 64, 3), np.uint8)], r"image 0: .*got shape \(64, 64, 3\)"),
        ([np.zeros((128, 128, 3), np.float32)], "image 0: expected uint8"),
        ([np.zeros((128, 128, 3), np.uint8), "photo.png"], "image 1: expected a numpy array"),
        ([np.zeros((128, 128, 4), np.uint8)], r"image 0: .*\(128, 128, 4\)"),
    ],
)
def test_bad_inputs_name_the_image(tiny: Reconstructor, images: list, match: str) -> None:
    with pytest.raises(InputFormatError, match=match):
        tiny.predict(images)


def test_save_load_round_trip(tiny: Reconstructor, tmp_path: Path) -> None:
    st, js = save_reconstructor(tiny.model, tmp_path / "reconstruction-sketch", kind="sketch")
    assert st.stat().st_size < 200_000
    back = load_reconstructor("sketch", weights=js)
    assert back.kind == "sketch" and back.info["weights_dtype"] == "float16"
    img = _images(1, seed=5)
    np.testing.assert_allclose(back.predict(img).occupancy, tiny.predict(img).occupancy, atol=2e-2)


def test_missing_weights_and_unknown_kind_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not found.*train reconstruction"):
        load_reconstructor("image", weights=tmp_path / "nothing")
    with pytest.raises(ConfigError, match="kind must be one of"):
        load_reconstructor("photo")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["image", "sketch"])
def test_shipped_model_reconstructs_rendered_validation_objects(shared_data: Path, kind: str) -> None:
    from voxforge.nn.data import stratified_split
    from voxforge.nn.recon_metrics import iou
    from voxforge.nn.reconstruct import weights_stem
    from voxforge.nn.renderset import EVAL_CONFIG, object_rng, render_views, view_target

    if not weights_stem(kind).with_suffix(".safetensors").is_file():
        pytest.skip(f"reconstruction-{kind} is not shipped")
    rec = load_reconstructor(kind)  # type: ignore[arg-type]
    with np.load(shared_data / "modelnet10_vox30_train.npz") as z:
        _, val = stratified_split(z["labels"], 0.15, 0)
        picks = val[::150][:4]  # four held-out objects of different classes
        voxels = z["voxels"][picks]
    scores = []
    for i, vox in enumerate(voxels):
        rv = render_views(vox, object_rng(99, i), 1, config=EVAL_CONFIG)
        pixels = rv.sketches[0] if kind == "sketch" else rv.images[0]
        occ = rec.predict([pixels]).occupancy
        scores.append(
            float(iou(occ[None], view_target(vox, float(rv.azimuth[0]))[None], rec.info["threshold"])[0])
        )
    assert np.mean(scores) > SHIPPED_IOU_BAR[kind], scores
