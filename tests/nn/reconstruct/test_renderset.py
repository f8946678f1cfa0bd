"""Render set: meshes, views, frames, cameras, shards, split, caching, loading."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from voxforge.core.errors import ConfigError, GeometryError, InputFormatError
from voxforge.nn.datasets import stratified_split
from voxforge.nn.reconstruct.renderset import (
    RenderSetConfig,
    build_render_set,
    load_render_set,
    render_views,
    rotate_grids,
    rotate_probabilities,
    smooth_mesh,
    to_grid32,
    view_target,
    view_targets,
)

SHARD_KEYS = {"images", "sketches", "masks", "azimuth", "elevation", "cameras", "labels", "object_index"}


def l_shape() -> np.ndarray:
    """(30, 30, 30) uint8: a low slab along y with a tall post at its +y end (asymmetric in y)."""
    g = np.zeros((30, 30, 30), np.uint8)
    g[11:19, 3:27, 3:9] = 1  # base: long in y
    g[11:19, 20:27, 9:27] = 1  # post at +y
    return g


def test_smooth_mesh_is_closed_outward_and_keeps_thin_parts() -> None:
    import trimesh

    g = np.zeros((30, 30, 30), np.uint8)
    g[5:25, 5:25, 5:25] = 1
    v, f = smooth_mesh(g)
    tm = trimesh.Trimesh(v, f, process=False)
    assert tm.is_watertight
    # outward winding gives positive volume; a 20-cell cube in a 32-cell unit cube is (20/32)^3
    assert tm.volume == pytest.approx((20 / 32) ** 3, rel=0.05)
    assert np.allclose(v.min(axis=0), 6 / 32 - 0.5, atol=0.01)  # 30³ pads by one cell

    pole = np.zeros((30, 30, 30), np.uint8)
    pole[15, 15, 2:28] = 1  # one cell thick, as chair legs are
    v, _ = smooth_mesh(pole)
    extent = v.max(axis=0) - v.min(axis=0)
    assert extent[2] == pytest.approx(26 / 32, abs=0.03)
    assert 0.5 / 32 < extent[0] < 1.5 / 32


def test_smooth_mesh_refuses_an_empty_grid() -> None:
    with pytest.raises(GeometryError, match="empty"):
        smooth_mesh(np.zeros((30, 30, 30), np.uint8))
    with pytest.raises(InputFormatError, match="33"):
        to_grid32(np.ones((33, 30, 30), np.uint8))


def test_render_views_shapes_and_determinism() -> None:
    g = l_shape()
    a = render_views(g, np.random.default_rng(7), 3, size=64)
    b = render_views(g, np.random.default_rng(7), 3, size=64)
    c = render_views(g, np.random.default_rng(8), 3, size=64)
    assert a.images.shape == (3, 64, 64, 3) and a.images.dtype == np.uint8
    assert a.masks.shape == (3, 64, 64) and a.masks.dtype == bool
    assert a.sketches.shape == (3, 64, 64) and a.sketches.dtype == np.uint8
    assert a.cameras.shape == (3, 3, 4) and a.cameras.dtype == np.float32
    assert a.azimuth.dtype == np.float32 and ((a.azimuth >= 0) & (a.azimuth < 360)).all()
    assert ((a.elevation >= 0) & (a.elevation <= 45)).all()
    for name in ("images", "masks", "sketches", "azimuth", "elevation", "cameras"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    assert a.images.tobytes() != c.images.tobytes()
    # framed with an 8 % margin: the object touches neither border but fills most of the image
    for m in a.masks:
        rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        assert rows[0] >= 3 and cols[0] >= 3 and rows[-1] <= 60 and cols[-1] <= 60
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) >= 48


def test_cameras_project_the_object_onto_its_mask() -> None:
    g = l_shape()
    r = render_views(g, np.random.default_rng(3), 2, size=96)
    cells = np.argwhere(to_grid32(g))
    world = np.c_[(cells + 0.5) / 32 - 0.5, np.ones(len(cells))]
    for cam, mask in zip(r.cameras, r.masks, strict=True):
        h = world @ cam.astype(np.float64).T
        px = np.floor(h[:, :2] / h[:, 2:3]).astype(int)
        inside = (px >= 0).all(axis=1) & (px < 96).all(axis=1)
        assert inside.all()
        hit = mask[px[:, 1], px[:, 0]]
        assert hit.mean() > 0.97  # voxel centres lie inside the smooth surface's silhouette


def _crop(img: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(img.any(axis=1)), np.flatnonzero(img.any(axis=0))
    return img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.mark.parametrize("seed", [1, 3, 4, 10])  # azimuths 184, 31, 340, 344: side-on
def test_view_target_is_what_the_camera_sees(seed: int) -> None:
    """Frame convention: in the target grid the camera looks from +x toward -x, screen right is +y
    and screen up is +z (elevation 0); checked on an L-shape, which is asymmetric in y."""
    cfg = RenderSetConfig(elevation_deg=(0.0, 0.0), fov_deg=(2.0, 2.0), margin=0.0)
    g = l_shape()
    r = render_views(g, np.random.default_rng(seed), 1, size=96, config=cfg)
    mask = _crop(r.masks[0])
    target = view_target(g, float(r.azimuth[0]))
    sil = _crop(target.any(axis=0).T[::-1])  # rows: z down the image; columns: y
    seen = cv2.resize(sil.astype(np.uint8), mask.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
    mirrored = seen[:, ::-1]
    assert _iou(mask, seen) > 0.85
    assert _iou(mask, mirrored) < 0.75


def test_view_target_rotation_is_exact_at_right_angles() -> None:
    g = np.zeros((30, 30, 30), np.uint8)
    g[27, 14, 4] = 1  # padded: (28, 15, 5), i.e. 12.5 cells toward +x of the centre 15.5
    assert np.argwhere(view_target(g, 0.0)).tolist() == [[28, 15, 5]]
    # camera at azimuth 90 (on +y): rotating by -90 turns +x into -y
    assert np.argwhere(view_target(g, 90.0)).tolist() == [[15, 3, 5]]
    assert np.argwhere(view_target(g, 180.0)).tolist() == [[3, 16, 5]]
    grids = np.stack([to_grid32(g)] * 2)
    both = view_targets(grids, np.array([0.0, 90.0]))
    assert np.array_equal(both[1], view_target(g, 90.0))
    # rotating there and back by a right angle is the identity
    assert np.array_equal(rotate_grids(rotate_grids(grids, 90.0), -90.0), grids)


def test_rotate_probabilities_matches_at_right_angles_and_keeps_mass() -> None:
    g = np.zeros((2, 32, 32, 32), np.float32)
    g[:, 10:20, 8:14, 3:9] = 1.0
    g[1, 12, 20, 5] = 0.5
    assert np.array_equal(rotate_probabilities(g, 0.0), g)
    assert np.array_equal(rotate_probabilities(g, [90.0, -90.0]), rotate_grids(g, [90.0, -90.0]))
    turned = rotate_probabilities(g, 45.0)
    assert turned.dtype == np.float32 and turned.min() >= 0.0 and turned.max() <= 1.0
    assert turned.sum() == pytest.approx(g.sum(), rel=0.02)


def test_config_refuses_impossible_ranges() -> None:
    with pytest.raises(ConfigError, match="elevation"):
        RenderSetConfig(elevation_deg=(50.0, 10.0))
    with pytest.raises(ConfigError, match="background"):
        RenderSetConfig(background_white=0, background_light=0, background_varied=0)
    with pytest.raises(ValueError, match="extra"):
        RenderSetConfig(colour=0.5)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def tiny_set(tiny_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rs") / "set"
    cfg = RenderSetConfig(views=2, size=48, shard_objects=7)
    return build_render_set(tiny_npz, out, cfg, workers=1)


def test_build_writes_shards_index_and_the_classifier_split(tiny_npz: Path, tiny_set: Path) -> None:
    index = json.loads((tiny_set / "index.json").read_text())
    labels = np.load(tiny_npz)["labels"]
    train, val = stratified_split(labels, 0.15, 0)
    assert index["split"] == {"train": train.tolist(), "val": val.tolist()}
    assert not set(index["split"]["train"]) & set(index["split"]["val"])
    assert [s["objects"] for s in index["shards"]] == [7, 7, 7, 3]
    with np.load(tiny_set / "shard_0000.npz") as z:
        assert SHARD_KEYS <= set(z.files)
        assert z["images"].shape == (14, 48, 48, 3)
        assert z["object_index"].tolist() == np.repeat(np.arange(7), 2).tolist()
        assert z["labels"].tolist() == np.repeat(labels[:7], 2).tolist()


def test_load_render_set_splits_by_object_and_gives_targets(tiny_npz: Path, tiny_set: Path) -> None:
    vox = np.load(tiny_npz)["voxels"]
    tr, va = load_render_set(tiny_set, "train"), load_render_set(tiny_set, "val")
    assert len(tr) + len(va) == 2 * len(vox)
    assert not set(tr.object_index.tolist()) & set(va.object_index.tolist())
    assert len(va) == 2 * len(va.objects)
    t = va.targets([0, 3])
    assert t.shape == (2, 32, 32, 32) and t.dtype == bool
    for k, row in zip([0, 3], t, strict=True):
        assert np.array_equal(row, view_target(vox[va.object_index[k]], float(va.azimuth[k])))


def test_build_is_cached_and_deterministic(tiny_npz: Path, tiny_set: Path, tmp_path: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in tiny_set.glob("shard_*.npz")}
    build_render_set(tiny_npz, tiny_set, RenderSetConfig(views=2, size=48, shard_objects=7), workers=1)
    assert {p.name: p.stat().st_mtime_ns for p in tiny_set.glob("shard_*.npz")} == before
    # a fresh build (here from the last shard only) gives the same arrays
    other = tmp_path / "again"
    other.mkdir()
    for p in tiny_set.glob("shard_000[012].npz"):
        (other / p.name).write_bytes(p.read_bytes())
    build_render_set(tiny_npz, other, RenderSetConfig(views=2, size=48, shard_objects=7), workers=1)
    with np.load(tiny_set / "shard_0003.npz") as a, np.load(other / "shard_0003.npz") as b:
        for key in SHARD_KEYS:
            assert a[key].tobytes() == b[key].tobytes(), key


def test_load_render_set_refuses_bad_folders(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match=r"index\.json"):
        load_render_set(tmp_path, "train")
    with pytest.raises(ConfigError, match="split"):
        load_render_set(tmp_path, "test")  # type: ignore[arg-type]


@pytest.mark.slow
def test_two_processes_render_the_same_bytes(tiny_npz: Path, tiny_set: Path, tmp_path: Path) -> None:
    cfg = RenderSetConfig(views=2, size=48, shard_objects=7)
    par = build_render_set(tiny_npz, tmp_path / "par", cfg, workers=2)
    for p in sorted(tiny_set.glob("shard_*.npz")):
        with np.load(p) as a, np.load(par / p.name) as b:
            for key in SHARD_KEYS:
                assert a[key].tobytes() == b[key].tobytes(), (p.name, key)
