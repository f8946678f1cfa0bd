"""voxforge.nn.classify.data: augmentation, points, the OFF release and its download."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from voxforge.core.errors import ConfigError, InputFormatError
from voxforge.nn.classify.data import (
    Augment,
    affine_grids,
    cutmix_voxels,
    download_modelnet,
    points_from_voxels,
    remeshed_grids,
    rotate_z,
    rotation_index,
    scanned_grids,
    shift_grids,
    voting_views,
    voxelize_modelnet,
)


def test_rotation_90_is_exact_and_matches_rot90() -> None:
    rng = np.random.default_rng(0)
    vox = (rng.random((2, 32, 32, 32)) < 0.2).astype(np.uint8)
    assert np.array_equal(rotate_z(vox, 90.0), np.rot90(vox, 1, axes=(1, 2)))
    assert np.array_equal(rotate_z(vox, 0.0), vox)
    assert np.array_equal(rotate_z(rotate_z(vox, 180.0), 180.0), vox)


def test_rotation_30_keeps_a_centred_object() -> None:
    vox = np.zeros((1, 32, 32, 32), np.uint8)
    vox[0, 10:22, 14:18, 5:9] = 1  # a bar along x
    rot = rotate_z(vox, 30.0)
    assert abs(int(rot.sum()) - int(vox.sum())) <= 0.15 * vox.sum()
    assert np.array_equal(rot[0, :, :, 5], rot[0, :, :, 8])  # rotation about z: layers alike
    assert rot[0, :, :, 9:].sum() == 0
    # 12 steps of 30° are the voting views; view 3 is the exact 90° rotation
    views = voting_views(vox, 12)
    assert views.shape == (12, 1, 32, 32, 32)
    assert np.array_equal(views[3], np.rot90(vox, 1, axes=(1, 2)))
    assert rotation_index(30.0).max() == 32 * 32  # out-of-grid sentinel exists at corners


def test_shift_grids_moves_with_zero_fill() -> None:
    vox = np.zeros((2, 8, 8, 8), np.uint8)
    vox[:, 0, 0, 0] = 1
    vox[:, 7, 7, 7] = 1
    out = shift_grids(vox, np.array([[1, 2, 0], [-1, 0, 0]]))
    assert out[0, 1, 2, 0] == 1 and out[0].sum() == 1  # the far corner fell off
    assert out[1, 6, 7, 7] == 1 and out[1].sum() == 1


def test_augment_is_seeded_and_keeps_shape() -> None:
    rng_data = np.random.default_rng(1)
    vox = (rng_data.random((4, 32, 32, 32)) < 0.05).astype(np.uint8)
    a = Augment()
    x1 = a.voxels(vox, np.random.default_rng(5))
    x2 = a.voxels(vox, np.random.default_rng(5))
    assert x1.shape == vox.shape and x1.dtype == np.uint8 and np.array_equal(x1, x2)
    pts = rng_data.uniform(-0.5, 0.5, (3, 64, 3)).astype(np.float32)
    p = Augment(shift=0).points(pts, np.random.default_rng(0))
    # rotations about z and mirrors keep each point's distance from the z axis and its height
    assert np.allclose(np.hypot(p[..., 0], p[..., 1]), np.hypot(pts[..., 0], pts[..., 1]), atol=1e-6)
    assert np.allclose(p[..., 2], pts[..., 2])


def test_affine_grids_identity_scaling_and_tilt() -> None:
    vox = np.zeros((2, 32, 32, 32), np.uint8)
    vox[:, 10:22, 12:20, 4:28] = 1  # a 12 x 8 x 24 box
    assert np.array_equal(affine_grids(vox, np.tile(np.eye(3), (2, 1, 1))), vox)
    half_x = affine_grids(vox, np.diag([0.5, 1.0, 1.0])[None].repeat(2, 0))
    nz = np.argwhere(half_x[0])
    assert (nz.max(0) - nz.min(0) + 1).tolist() == [6, 8, 24]
    tilted = Augment(rotations=1, mirror=False, shift=0, tilt=10.0).voxels(vox, np.random.default_rng(3))
    assert tilted.shape == vox.shape and not np.array_equal(tilted, vox)
    # a small tilt keeps most of the object in place
    inter = np.logical_and(tilted, vox).sum((1, 2, 3)) / vox.sum((1, 2, 3))
    assert (inter > 0.6).all()


def test_cutmix_pastes_a_box_of_the_partner_and_weights_by_occupied_cells() -> None:
    rng = np.random.default_rng(3)
    vox = (rng.random((6, 16, 16, 16)) < 0.3).astype(np.uint8)
    vox[0] = 0  # an empty grid: it is all partner, or all its own when the box is empty too
    out, partner, own = cutmix_voxels(vox, np.random.default_rng(5))
    assert sorted(partner) == list(range(6)) and out.shape == vox.shape and out.dtype == vox.dtype
    for i in range(6):
        changed = out[i] != vox[i]
        from_partner = out[i] == vox[partner[i]]
        assert from_partner[changed].all()  # every changed cell is the partner's
        if partner[i] == i or not changed.any() or not out[i].any():
            continue
        box = np.argwhere(changed)
        lo, hi = box.min(0), box.max(0) + 1
        inside = np.zeros_like(changed)
        inside[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = True
        kept = int(vox[i][~inside].sum())
        assert own[i] == pytest.approx(kept / max(int(out[i].sum()), 1), abs=0.05)
    assert 0.0 <= own.min() and own.max() <= 1.0 and own.min() < 0.9
    again = cutmix_voxels(vox, np.random.default_rng(5))
    assert all(np.array_equal(a, b) for a, b in zip(again, (out, partner, own), strict=True))


def test_posed_voxels_bins_point_where_the_object_faces() -> None:
    vox = np.zeros((40, 32, 32, 32), np.uint8)
    vox[:, 10:22, 14:18, 4:8] = 1  # a bar along x ...
    vox[:, 19:22, 12:20, 4:12] = 1  # ... with its head (the front) at +x
    aug = Augment(rotations=12, mirror=True, shift=0)
    out, bins = aug.posed_voxels(vox, np.random.default_rng(2))
    assert out.shape == vox.shape and bins.dtype == np.int64 and set(bins) <= set(range(12))
    c = (32 - 1) / 2
    for grid, b in zip(out, bins, strict=True):
        head = np.argwhere(grid[:, :, 9:12]).mean(0)[:2] - c  # only the head is that tall
        angle = np.degrees(np.arctan2(head[1], head[0])) % 360
        assert min(abs(angle - 30 * b), 360 - abs(angle - 30 * b)) < 12
    assert len(set(bins)) > 6  # one rotation per grid, not per batch
    again = aug.posed_voxels(vox, np.random.default_rng(2))
    assert np.array_equal(again[0], out) and np.array_equal(again[1], bins)
    with pytest.raises(ConfigError, match="even number"):
        Augment(rotations=5, mirror=True).posed_voxels(vox, np.random.default_rng(0))


def test_remeshed_grids_are_the_input_path_at_random_yaws() -> None:
    vox = np.zeros((3, 32, 32, 32), np.uint8)
    vox[0, 4:28, 14:18, 4:8] = 1  # a bar along x, 24 cells long: the input path's scale
    vox[1, 8:24, 8:24, 4:20] = 1  # a block
    out = remeshed_grids(vox, 3, seed=1)
    assert out.shape == (3, 3, 32, 32, 32) and out.dtype == np.uint8
    assert np.array_equal(out[2], np.zeros((3, 32, 32, 32), np.uint8))  # empty stays empty
    yaws = np.random.default_rng([1, 0]).uniform(0.0, 360.0, 3)
    for grid, yaw in zip(out[0], yaws, strict=True):
        xy = np.argwhere(grid)[:, :2].astype(float)
        xy -= xy.mean(0)
        axis = np.linalg.eigh(xy.T @ xy)[1][:, -1]  # the bar's long direction, up to sign
        angle = np.degrees(np.arctan2(axis[1], axis[0])) % 180
        assert min(abs(angle - yaw % 180), 180 - abs(angle - yaw % 180)) < 6
    # thicker than the binvox bar (the voxelizer marks every cell the surface touches) and solid
    assert out[1].sum(axis=(1, 2, 3)).min() >= vox[1].sum()
    assert np.array_equal(remeshed_grids(vox, 3, seed=1), out)
    assert not np.array_equal(remeshed_grids(vox, 3, seed=2), out)
    with pytest.raises(ConfigError, match="copies"):
        remeshed_grids(vox, 0)


def test_scanned_grids_see_one_side_of_the_object() -> None:
    vox = np.zeros((2, 32, 32, 32), np.uint8)
    vox[0, 8:24, 8:24, 8:24] = 1  # a solid block
    out = scanned_grids(vox, 4, seed=3)
    assert out.shape == (2, 4, 32, 32, 32) and out.dtype == np.uint8
    assert not out[1].any()  # empty stays empty
    solid = remeshed_grids(vox[:1], 1, seed=3)[0, 0]
    for grid in out[0]:
        occ = grid.astype(bool)
        lo, hi = np.argwhere(occ).min(0), np.argwhere(occ).max(0) + 1
        box = occ[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        # a shell of the faces the cameras saw, not the solid block a whole mesh gives
        assert 0 < occ.sum() < 0.6 * solid.sum()
        # the bottom and the far side were never seen: the box's lowest layer is mostly empty
        # (the cameras sit 0-45 degrees above the horizon) and its centre is hollow
        assert box[:, :, 0].mean() < 0.5
        c = np.array(box.shape) // 2
        assert not box[c[0], c[1], c[2]]
    assert np.array_equal(scanned_grids(vox, 4, seed=3), out)
    assert not np.array_equal(scanned_grids(vox, 4, seed=4), out)
    with pytest.raises(ConfigError, match="copies"):
        scanned_grids(vox, 0)


def test_points_from_voxels_in_unit_ball() -> None:
    vox = np.zeros((1, 32, 32, 32), np.uint8)
    vox[0, 8:24, 8:24, 8:24] = 1
    pts = points_from_voxels(vox, 256, seed=0)
    assert pts.shape == (1, 256, 3) and pts.dtype == np.float32
    r = np.linalg.norm(pts[0], axis=1)
    assert r.max() == pytest.approx(1.0, abs=1e-6)
    assert r.min() > 0.45  # surface only: nothing near the centre of the solid cube
    assert np.array_equal(pts, points_from_voxels(vox, 256, seed=0))


# --------------------------------------------------------------------------- OFF release


def _off_box(sx: float, sy: float, sz: float) -> str:
    v = [(x * sx, y * sy, z * sz) for x in (0, 1) for y in (0, 1) for z in (0, 1)]
    f = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    lines = ["OFF", f"8 {len(f) * 2} 0"] + [f"{a} {b} {c}" for a, b, c in v]
    for a, b, c, d in f:
        lines += [f"3 {a} {b} {c}", f"3 {a} {c} {d}"]
    return "\n".join(lines) + "\n"


def make_modelnet(root: Path) -> Path:
    """ModelNet10-like tree: 2 classes x (train 2, test 1) boxes and one corrupt train file."""
    base = root / "ModelNet10"
    for cls, dims in (("slab", (1.0, 1.0, 0.1)), ("tower", (0.2, 0.2, 1.0))):
        for split, n in (("train", 2), ("test", 1)):
            d = base / cls / split
            d.mkdir(parents=True)
            for k in range(n):
                (d / f"{cls}_{k:04d}.off").write_text(_off_box(dims[0] + 0.1 * k, *dims[1:]))
    (base / "slab" / "train" / "slab_9999.off").write_text("OFF\n8 12 0\n1 2\n")  # truncated
    return base


def test_voxelize_modelnet_skips_corrupt_files_and_caches(tmp_path: Path) -> None:
    make_modelnet(tmp_path)
    seen: list[float] = []
    d = voxelize_modelnet(tmp_path, "train", n_points=64, progress=lambda s, f: seen.append(f))
    assert d.classes == ["slab", "tower"] and d.labels.tolist() == [0, 0, 1, 1]
    assert len(d.skipped) == 1 and d.skipped[0][0].endswith("slab_9999.off")
    assert d.voxels.shape == (4, 32, 32, 32) and d.points.shape == (4, 64, 3)
    assert seen[-1] == 1.0 and len(seen) == 5
    # longest side spans 24 cells, centred: the slab fills x and y 4..27 and is thin in z
    nz = np.argwhere(d.voxels[0])
    assert nz.min(0)[:2].tolist() == [4, 4] and nz.max(0)[:2].tolist() == [27, 27]
    assert np.ptp(nz[:, 2]) <= 3
    cache = tmp_path / "ModelNet10" / "ModelNet10_train_32.npz"
    assert cache.is_file()
    again = voxelize_modelnet(tmp_path, "train", n_points=64, progress=lambda s, f: seen.append(-1))
    assert -1 not in seen and np.array_equal(again.voxels, d.voxels) and again.skipped == d.skipped


def test_voxelize_modelnet_refuses_a_non_modelnet_folder(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="no ModelNet folder"):
        voxelize_modelnet(tmp_path, "train")


def test_download_from_a_local_zip(tmp_path: Path) -> None:
    src = make_modelnet(tmp_path / "src")
    zpath = tmp_path / "ModelNet10.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in sorted(src.rglob("*.off")):
            zf.write(f, f.relative_to(src.parent).as_posix())
    root = download_modelnet(tmp_path / "dest", url=zpath.as_uri())
    assert root == tmp_path / "dest" / "ModelNet10"
    assert len(list(root.rglob("*.off"))) == 7
    assert not list((tmp_path / "dest").glob("*.part"))


def test_download_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="download failed"):
        download_modelnet(tmp_path, url=(tmp_path / "missing.zip").as_uri())
    notzip = tmp_path / "x.zip"
    notzip.write_bytes(b"hello")
    with pytest.raises(InputFormatError, match="not a zip file"):
        download_modelnet(tmp_path / "d", url=notzip.as_uri())


def test_cli_data_download_and_voxelize(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from voxforge.cli import app

    src = make_modelnet(tmp_path / "src")
    zpath = tmp_path / "ModelNet10.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in sorted(src.rglob("*.off")):
            zf.write(f, f.relative_to(src.parent).as_posix())
    dest = tmp_path / "data"
    args = ["data", "download", "modelnet10", "--dest", str(dest), "--url", zpath.as_uri()]
    r = CliRunner().invoke(app, [*args, "--voxelize", "-q"])
    assert r.exit_code == 0, r.output
    assert "unpacked 7 OFF meshes" in r.output
    assert "train: 4 shapes voxelized at 32³, 1 skipped" in r.output
    assert "test: 2 shapes voxelized at 32³, 0 skipped" in r.output
    assert "slab_9999.off" in r.output
    r = CliRunner().invoke(app, ["data", "download", "modelnet40", "--dest", str(dest)])
    assert r.exit_code == 5 and "unknown data set 'modelnet40'" in r.output
