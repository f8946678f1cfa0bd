"""ARKit capture folders: write/read round trip, tolerant layouts, bad inputs, the sample scan."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import trimesh

from voxforge.core.errors import ConfigError, InputFormatError
from voxforge.core.mesh import Mesh
from voxforge.core.pointcloud import PointCloud
from voxforge.io.arkit import is_capture, open_scanner_app, read_frames, write_capture
from voxforge.scan.capture import fuse_capture, load_capture_mesh
from voxforge.scan.fuse import fuse_frames
from voxforge.scan.sim import simulate_capture

REPO = Path(__file__).resolve().parents[2]


def load_capture(path: Path, **options) -> PointCloud:
    """The ARKit reader's frames fused by scan (io reads, scan fuses)."""
    return fuse_capture(open_scanner_app(Path(path)), str(path), **options)


@pytest.fixture(scope="module")
def frames():
    """Three noisy simulated frames of a coloured box (seed 0)."""
    tm = trimesh.creation.box(extents=(0.2, 0.15, 0.1))
    tm.visual.face_colors = (40, 90, 200, 255)
    return simulate_capture(Mesh(tm=tm), n_views=3, radius=0.6, seed=0)


@pytest.fixture
def capture(tmp_path, frames) -> Path:
    return write_capture(frames, tmp_path / "cap")


def test_write_capture_layout(capture):
    names = sorted(p.name for p in capture.iterdir())
    assert names == [
        *(f"conf_{i:05d}.png" for i in range(3)),
        *(f"depth_{i:05d}.png" for i in range(3)),
        *(n for i in range(3) for n in (f"frame_{i:05d}.jpg", f"frame_{i:05d}.json")),
    ]
    meta = json.loads((capture / "frame_00001.json").read_text())
    assert len(meta["cameraPoseARFrame"]) == 16 and len(meta["intrinsics"]) == 9


def test_round_trip_is_exact_except_jpeg(capture, frames):
    back = read_frames(capture)
    assert len(back) == len(frames)
    for a, b in zip(frames, back, strict=True):
        np.testing.assert_array_equal(a.depth_mm, b.depth_mm)
        np.testing.assert_array_equal(a.confidence, b.confidence)
        np.testing.assert_array_equal(a.pose, b.pose)
        np.testing.assert_array_equal(a.intrinsics, b.intrinsics)
        assert b.rgb.shape == a.rgb.shape
        assert np.abs(a.rgb.astype(int) - b.rgb).mean() < 2.0  # JPEG quality 85


def test_load_capture_equals_fusing_the_frames(capture, frames):
    cloud = load_capture(capture)
    direct = fuse_frames(frames)
    np.testing.assert_array_equal(cloud.xyz, direct.xyz)  # geometry is lossless on disk
    diff = np.abs(cloud.rgb - direct.rgb)  # JPEG: small everywhere, larger only at silhouettes
    assert diff.mean() < 0.01 and np.percentile(diff, 99) < 0.06
    assert cloud.meta["format"] == "3d-scanner-app" and cloud.meta["source"] == str(capture)
    assert cloud.meta["frames"] == 3
    # the box (centred at the origin, 10 cm tall, z-up) is recovered in the z-up frame
    z = cloud.xyz[:, 2]
    assert np.median(z[z > 0.03]) == pytest.approx(0.05, abs=0.0015)  # the lid, seen from above
    assert np.percentile(z, 1) > -0.056


def test_load_capture_options_and_progress(capture):
    seen = []
    strict = load_capture(capture, min_confidence=2, progress=lambda s, f: seen.append(f))
    loose = load_capture(capture, min_confidence=0)
    assert len(strict) < len(loose)
    assert seen[-1] == 1.0 and len(seen) == 3
    assert 0 < len(load_capture(capture, max_depth=0.55)) < len(loose)


def test_is_capture(tmp_path, capture):
    assert is_capture(capture)
    assert not is_capture(tmp_path / "missing")
    assert not is_capture(capture / "frame_00000.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not is_capture(empty)
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(capture / "frame_00000.jpg", images / "frame_00000.jpg")
    assert not is_capture(images)


def test_subfolder_layout_and_missing_confidence_are_accepted(tmp_path, capture):
    alt = tmp_path / "alt"
    for sub in ("depth", "rgb"):
        (alt / sub).mkdir(parents=True)
    for i in range(3):
        shutil.copy(capture / f"frame_{i:05d}.json", alt / f"{i:06d}.json")
        shutil.copy(capture / f"depth_{i:05d}.png", alt / "depth" / f"{i:06d}.png")
        shutil.copy(capture / f"frame_{i:05d}.jpg", alt / "rgb" / f"{i:06d}.jpg")
    (alt / "info.json").write_text("{}")  # un-numbered: ignored
    assert is_capture(alt)
    cloud = load_capture(alt)
    # no confidence maps: every return counts, as with min_confidence=0
    reference = load_capture(capture, min_confidence=0)
    np.testing.assert_array_equal(cloud.xyz, reference.xyz)


def test_write_capture_refuses_to_mix_with_old_frames(tmp_path, frames):
    out = write_capture(frames, tmp_path / "cap")
    with pytest.raises(ConfigError, match="already holds 12 capture files"):
        write_capture(frames[:1], out)
    write_capture(frames[:1], out, overwrite=True)
    assert len(read_frames(out)) == 1


def _corrupt(capture: Path, case: str) -> Path:
    """Break the capture in one way; return the file the error message must name."""
    if case == "no frames":
        for p in capture.iterdir():
            p.unlink()
        return capture
    if case == "missing depth":
        (capture / "depth_00001.png").unlink()
        return capture / "frame_00001.json"
    if case == "no pose":
        path = capture / "frame_00002.json"
        meta = json.loads(path.read_text())
        del meta["cameraPoseARFrame"]
        path.write_text(json.dumps(meta))
        return path
    if case == "short pose":
        path = capture / "frame_00000.json"
        meta = json.loads(path.read_text())
        meta["cameraPoseARFrame"] = meta["cameraPoseARFrame"][:12]
        path.write_text(json.dumps(meta))
        return path
    if case == "bad json":
        path = capture / "frame_00001.json"
        path.write_text('{"cameraPoseARFrame": [1, 0,')
        return path
    if case == "mixed depth sizes":
        path = capture / "depth_00001.png"
        cv2.imwrite(str(path), np.zeros((240, 320), np.uint16))
        cv2.imwrite(str(capture / "conf_00001.png"), np.zeros((240, 320), np.uint8))
        return path
    if case == "confidence size":
        path = capture / "conf_00001.png"
        cv2.imwrite(str(path), np.zeros((240, 320), np.uint8))
        return path
    if case == "not a rotation":
        path = capture / "frame_00001.json"
        meta = json.loads(path.read_text())
        meta["cameraPoseARFrame"][0] = 2.0  # a scale, not a rotation
        path.write_text(json.dumps(meta))
        return path
    if case == "8-bit depth":
        path = capture / "depth_00000.png"
        cv2.imwrite(str(path), np.zeros((192, 256), np.uint8))
        return path
    if case == "truncated depth":
        path = capture / "depth_00002.png"
        path.write_bytes(path.read_bytes()[:40])
        return path
    if case == "confidence out of range":
        path = capture / "conf_00001.png"
        cv2.imwrite(str(path), np.full((192, 256), 255, np.uint8))
        return path
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no frames", "no ARKit frames found"),
        ("missing depth", "frame 1 has no depth PNG"),
        ("no pose", "no 'cameraPoseARFrame' entry"),
        ("short pose", "must hold 16 numbers, found 12"),
        ("bad json", "not valid JSON"),
        ("mixed depth sizes", "depth map is 320x240 but"),
        ("confidence size", "confidence map is 320x240 pixels but the depth map is 256x192"),
        ("not a rotation", "cameraPoseARFrame is not a rotation"),
        ("8-bit depth", "expected single-channel 16-bit millimetre depth, found 1 channel(s) of uint8"),
        ("truncated depth", "not a readable image"),
        ("confidence out of range", "must be 0, 1 or 2, found up to 255"),
    ],
)
def test_bad_captures_raise_input_format_error_naming_the_file(capture, case, message):
    culprit = _corrupt(capture, case)
    with pytest.raises(InputFormatError) as err:
        load_capture(capture)
    assert str(culprit) in str(err.value)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_file_is_not_a_capture(capture):
    with pytest.raises(InputFormatError, match="not a folder"):
        load_capture(capture / "frame_00000.json")


def test_sample_mug_scan_is_a_mug_on_a_table():
    scan = REPO / "examples" / "mug_scan"
    assert is_capture(scan)
    cloud = load_capture(scan)
    assert cloud.has_colors and 15_000 < len(cloud) < 40_000
    table = cloud.xyz[np.abs(cloud.xyz[:, 2]) < 0.004]
    mug = cloud.xyz[cloud.xyz[:, 2] > 0.01]
    # the table top: tens of centimetres across, seen from above
    assert np.ptp(table[:, 0]) > 0.4 and np.ptp(table[:, 1]) > 0.3
    # the mug: 8 cm across (y), 8 cm + a 3 cm handle along x, 10 cm tall, standing at the origin
    lo, hi = mug.min(axis=0), mug.max(axis=0)
    np.testing.assert_allclose(hi - lo, (0.112, 0.08, 0.09), atol=0.006)
    assert hi[2] == pytest.approx(0.10, abs=0.004)
    assert np.hypot(*mug[:, :2].mean(axis=0)) < 0.02
    # red mug, brown table
    red = cloud.rgb[cloud.xyz[:, 2] > 0.01]
    assert np.median(red[:, 0]) > 2 * np.median(red[:, 1])
    wood = np.median(cloud.rgb[np.abs(cloud.xyz[:, 2]) < 0.004], axis=0)
    assert wood[0] > wood[1] > wood[2]
    # normals: the table faces up, the mug's outer wall outwards and its inner wall inwards
    assert np.median(cloud.normals[np.abs(cloud.xyz[:, 2]) < 0.003, 2]) > 0.99
    v, n = cloud.xyz, cloud.normals
    radius = np.hypot(v[:, 0], v[:, 1])
    wall = (v[:, 2] > 0.02) & (v[:, 2] < 0.09) & (v[:, 0] < 0.03)
    radial = np.einsum("ij,ij->i", n[:, :2], v[:, :2]) / np.maximum(radius, 1e-9)
    assert np.percentile(radial[wall & (radius > 0.039)], 5) > 0.9
    assert np.percentile(radial[wall & (radius < 0.037)], 95) < -0.9


def test_sample_ply_and_mesh_match_the_capture():
    from voxforge.io import load_mesh, load_points

    examples = REPO / "examples"
    fused = load_capture(examples / "mug_scan")
    ply = load_points(examples / "mug_scan.ply")
    assert len(ply) == len(fused)
    np.testing.assert_allclose(ply.xyz, fused.xyz, atol=1e-6)  # float32 on disk
    np.testing.assert_allclose(ply.rgb, fused.rgb, atol=0.5 / 255 + 1e-6)  # uint8 on disk
    np.testing.assert_allclose(ply.normals, fused.normals, atol=1e-6)
    mug = load_mesh(examples / "mug.glb")  # stored y-up as glTF wants; read back z-up
    assert mug.is_watertight and mug.has_colors
    np.testing.assert_allclose(mug.bounds, [[-0.04, -0.04, 0.0], [0.072, 0.04, 0.1]], atol=1e-6)


def test_sample_scan_as_tsdf_mesh_keeps_inside_and_outside_colours_apart():
    mesh = load_capture_mesh(REPO / "examples" / "mug_scan")
    assert mesh.meta["format"] == "3d-scanner-app" and mesh.meta["frames"] == 14
    v = mesh.vertices
    rgb = mesh.tm.visual.vertex_colors[:, :3].astype(int)
    radius = np.hypot(v[:, 0], v[:, 1])
    wall = (v[:, 2] > 0.02) & (v[:, 2] < 0.09) & (v[:, 0] < 0.03)  # away from the handle
    outside = wall & (radius > 0.041)
    inside = wall & (radius < 0.034)
    assert outside.sum() > 300 and inside.sum() > 300
    assert (rgb[outside, 0] > 2 * rgb[outside, 1]).mean() > 0.95  # red
    assert (rgb[inside].min(axis=1) > 150).mean() > 0.95  # cream glaze
    mug = v[v[:, 2] > 0.01]
    np.testing.assert_allclose(np.ptp(mug, axis=0), (0.112, 0.08, 0.09), atol=0.008)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("depth_mm", np.zeros((192, 256), np.float32), "depth_mm must be (h, w) uint16"),
        ("depth_mm", np.zeros((240, 320), np.uint16), "confidence must be (240, 320) like the depth"),
        ("confidence", np.zeros((10, 10), np.uint8), "confidence must be (192, 256) like the depth"),
        ("rgb", np.zeros((384, 512), np.uint8), "rgb must be (H, W, 3)"),
        ("pose", np.eye(3), "pose must be 4x4"),
    ],
)
def test_capture_frame_checks_its_arrays(frames, field, value, message):
    from dataclasses import replace

    with pytest.raises(InputFormatError, match=re.escape(message)):
        replace(frames[0], **{field: value})
