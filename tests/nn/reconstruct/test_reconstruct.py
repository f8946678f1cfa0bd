"""Reconstructor: input checks, multi-view fusion frames, save/load round trip, shipped weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from voxforge.core.errors import ConfigError, InputFormatError
from voxforge.nn.reconstruct.inference import (
    Reconstructor,
    consensus_azimuth,
    fuse_canonical,
    fuse_occupancy,
    load_reconstructor,
    resolve_azimuths,
    rotate_points_z,
    save_reconstructor,
)
from voxforge.nn.reconstruct.models import ReconOutput, create_recon_model
from voxforge.nn.reconstruct.renderset import rotate_probabilities

SHIPPED_IOU_BAR = {"image": 0.22, "sketch": 0.22}
"""Mean single-view IoU the shipped models must beat on four held-out objects (the object-frame
models score 0.347 and 0.338; validation means 0.436 and 0.434)."""
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


class FixedObjectNet(nn.Module):
    """An object-frame network with known outputs: image ``i`` of a batch gets occupancy
    ``occ[i]``, confidence ``conf[i]`` and a peaked azimuth distribution at ``azimuth[i]``."""

    def __init__(self, occ: np.ndarray, conf: np.ndarray, azimuth: list[float]) -> None:
        super().__init__()
        self.occ = torch.from_numpy(_logit(occ).astype(np.float32))
        self.conf = torch.from_numpy(_logit(conf).astype(np.float32))
        self.az = torch.tensor(azimuth, dtype=torch.float32)
        self.azimuth = nn.Identity()  # marks the azimuth head
        self.mesh_faces = torch.zeros((1, 3), dtype=torch.long)

    def forward(self, x: torch.Tensor, heads: tuple[str, ...] = ()) -> ReconOutput:
        from voxforge.nn.reconstruct.models import azimuth_soft_labels

        b = x.shape[0]
        pts = torch.tensor([[0.25, 0.0, 0.1]]).expand(b, 4, 3)
        az = torch.log(azimuth_soft_labels(self.az[:b], 72, 1.0).clamp_min(1e-30))
        return ReconOutput(self.occ[:b], self.conf[:b], pts, pts, az)


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
    from voxforge.nn.datasets import stratified_split
    from voxforge.nn.metrics import iou
    from voxforge.nn.reconstruct.inference import weights_stem
    from voxforge.nn.reconstruct.renderset import EVAL_CONFIG, object_rng, render_views, view_target

    if not weights_stem(kind).with_suffix(".json").is_file():  # its weights may be another's
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


# --------------------------------------------------------------------------- object frame


def _block(x: slice, y: slice, p: float = 0.95) -> np.ndarray:
    g = np.full((32, 32, 32), 0.02)
    g[x, y, 0:10] = p
    return g


def test_object_frame_single_view_is_turned_by_its_predicted_azimuth() -> None:
    occ = _block(slice(14, 18), slice(26, 30))[None]  # a block at +y of the object
    net = FixedObjectNet(occ, np.full((1, 32, 32, 32), 0.5), [90.0])
    rec = Reconstructor(net, flip_tta=False)
    assert rec.frame == "object"
    out = rec.predict(_images(1))
    # camera at +90° (on the object's +y side) looks toward -x of its view frame: the block that
    # faces it is at +x there
    assert out.occupancy[26:30, 14:18, 0:10].min() > 0.9
    assert out.occupancy[14:18, 26:30, 0:10].max() < 0.1
    np.testing.assert_allclose(out.points[0], [0.0, -0.25, 0.1], atol=1e-6)  # points turn too
    assert out.azimuths == (0.0,)


def test_object_frame_fusion_is_the_confidence_weighted_average_turned_by_view_0() -> None:
    occ = np.stack([_block(slice(14, 18), slice(26, 30)), _block(slice(2, 6), slice(14, 18), 0.6)])
    conf = np.stack([np.full((32, 32, 32), 0.8), np.full((32, 32, 32), 0.2)])
    conf[1, 2:6, 14:18, 0:10] = 0.9
    net = FixedObjectNet(occ, conf, [90.0, 200.0])
    out = Reconstructor(net, flip_tta=False).predict(_images(2))
    w = conf / conf.sum(axis=0)
    expected = rotate_probabilities((w * occ).sum(axis=0)[None], -90.0)[0]
    np.testing.assert_allclose(out.occupancy, expected, atol=1e-4)
    assert out.azimuths == pytest.approx((0.0, 110.0), abs=0.1)  # the network's own estimates
    # the second view's block (at -x of the object, where it is the surer view) lands at +y of
    # view 0's frame (turning by -90° takes -x to +y), weighted 0.9 against view 0's 0.8
    blended = (0.8 * 0.02 + 0.9 * 0.6) / 1.7
    assert out.occupancy[14:18, 26:30, 0:10].mean() == pytest.approx(blended, abs=0.01)
    # turned by view 1's azimuth instead, the result would differ
    other = rotate_probabilities((w * occ).sum(axis=0)[None], -200.0)[0]
    assert np.abs(out.occupancy - other).max() > 0.5


def test_given_azimuths_make_a_consensus_that_ignores_a_fooled_view() -> None:
    occ = np.stack([_block(slice(14, 18), slice(26, 30))] * 3)
    conf = np.full((3, 32, 32, 32), 0.5)
    # view 0 predicts 100° (true 90°), view 1 says 130° (given +45°: 85°), view 2 was fooled by
    # 180° (given +90°: 180° + 180° - 90° = 270°)
    net = FixedObjectNet(occ, conf, [100.0, 130.0, 360.0])
    out = Reconstructor(net, flip_tta=False).predict(_images(3), azimuths=[10.0, 55.0, 100.0])
    assert out.azimuths == (10.0, 55.0, 100.0)
    expected = rotate_probabilities(occ[:1], -92.5)[0]  # mean of 100 and 85
    np.testing.assert_allclose(out.occupancy, expected, atol=2e-3)


def test_consensus_azimuth_wraps_and_weights() -> None:
    assert consensus_azimuth(np.array([355.0, 5.0]), np.ones(2)) == pytest.approx(0.0, abs=1e-6)
    assert consensus_azimuth(np.array([10.0, 20.0, 200.0]), np.array([1.0, 3.0, 3.5])) == (
        pytest.approx(17.5, abs=0.05)
    )
    occ, yaw = fuse_canonical(np.ones((2, 32, 32, 32)), np.ones((2, 32, 32, 32)), np.array([30.0, 90.0]),
                              np.ones(2))  # fmt: skip
    assert yaw == 30.0 and occ.shape == (32, 32, 32)


def test_an_object_frame_model_saves_and_loads_with_its_frame(tmp_path: Path) -> None:
    torch.manual_seed(0)
    rec = Reconstructor(create_recon_model("reconnet", **TINY, azimuth_bins=72))
    assert rec.frame == "object"
    _, js = save_reconstructor(rec.model, tmp_path / "obj", kind="image", frame="object")
    back = load_reconstructor("image", weights=js)
    assert back.frame == "object" and back.info["frame"] == "object"
    img = _images(2, seed=3)
    np.testing.assert_allclose(back.predict(img).occupancy, rec.predict(img).occupancy, atol=3e-2)
    with pytest.raises(ConfigError, match="needs a network with an azimuth head"):
        Reconstructor(create_recon_model("reconnet", **TINY), frame="object")


def test_an_old_view_frame_sidecar_without_frame_still_loads_and_predicts(
    tiny: Reconstructor, tmp_path: Path
) -> None:
    import json

    _, js = save_reconstructor(tiny.model, tmp_path / "old", kind="image")
    info = json.loads(js.read_text())
    assert info["frame"] == "view"
    del info["frame"]  # what models shipped before the object frame wrote
    js.write_text(json.dumps(info))
    back = load_reconstructor("image", weights=js)
    assert back.frame == "view"
    img = _images(2, seed=4)
    out = back.predict(img, azimuths=[0.0, 90.0])
    assert out.azimuths == (0.0, 90.0)
    np.testing.assert_allclose(out.occupancy, tiny.predict(img, [0.0, 90.0]).occupancy, atol=3e-2)


def test_flip_tta_makes_predictions_mirror_equivariant() -> None:
    """With flip test-time augmentation the flipped image gives exactly the mirrored object
    (y flipped) and minus the azimuth, and the probabilities are the mean of the two passes."""
    from voxforge.nn.reconstruct.models import images_to_tensor, object_frame_voxels

    torch.manual_seed(1)
    model = create_recon_model("reconnet", **TINY, azimuth_bins=72).eval()
    x = images_to_tensor(np.stack(_images(2, seed=7)))
    _, p, c, a, _ = object_frame_voxels(model, x)
    _, pf, cf, af, _ = object_frame_voxels(model, x.flip(-1))
    torch.testing.assert_close(pf, p.flip(2))
    torch.testing.assert_close(cf, c.flip(2))
    err = torch.remainder(af + a + 180.0, 360.0) - 180.0
    assert err.abs().max() < 1e-3
    with torch.no_grad():
        plain = torch.sigmoid(model(x).voxel_logits)
        mirrored = torch.sigmoid(model(x.flip(-1)).voxel_logits).flip(2)
    torch.testing.assert_close(p, 0.5 * (plain + mirrored))
    _, p1, *_ = object_frame_voxels(model, x, flip=False)
    torch.testing.assert_close(p1, plain)
