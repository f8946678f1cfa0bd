"""Phone capture layouts written from their documented formats, read back and fused.

Each layout is made here from simulated LiDAR frames of a known object (a coloured box), in the
file layout docs/formats.md describes: 3D Scanner App folder (with thumbnails, the app's mesh and
colour on every third frame), Stray Scanner folder (PNG or .npy depth, rgb.mp4, CRLF odometry with
hemisphere flips), Record3D ``.r3d``. The fused cloud must lie on the box.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import trimesh

from voxforge.core.errors import InputFormatError, UnsupportedInputError
from voxforge.core.mesh import Mesh
from voxforge.io import sniff
from voxforge.io.arkit import write_capture
from voxforge.io.captures import load_app_mesh, open_capture
from voxforge.io.record3d import write_r3d
from voxforge.io.stray import write_stray
from voxforge.scan.capture import load_input_points as load_points
from voxforge.scan.sim import SimConfig, simulate_capture

BOX = (0.2, 0.15, 0.1)
BOX_RGB = (40, 90, 200)


def box_distance(xyz: np.ndarray) -> np.ndarray:
    """(n,) distance of points to the surface of the box centred at the origin."""
    half = np.asarray(BOX) / 2
    q = np.abs(xyz) - half
    outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
    inside = np.minimum(q.max(axis=1), 0.0)
    return np.abs(outside + inside)


@pytest.fixture(scope="module")
def frames():
    """Six ideal simulated frames of a blue box (seed 0), with times."""
    tm = trimesh.creation.box(extents=BOX)
    tm.visual.face_colors = (*BOX_RGB, 255)
    out = simulate_capture(Mesh(tm=tm), n_views=6, radius=0.6, seed=0, config=SimConfig.ideal())
    for i, f in enumerate(out):
        f.time = 100.0 + i / 60.0
    return out


def check_box(cloud, colored: bool = True) -> None:
    d = box_distance(cloud.xyz)
    assert len(cloud) > 2000
    assert np.percentile(d, 99) < 0.004, np.percentile(d, 99)
    np.testing.assert_allclose(np.ptp(cloud.xyz[:, :2], axis=0), BOX[:2], atol=0.01)
    assert cloud.xyz[:, 2].max() == pytest.approx(BOX[2] / 2, abs=0.004)  # the lid, z-up
    if colored:
        blue = np.median(cloud.rgb, axis=0)
        assert blue[2] > blue[1] > blue[0]


def scanner_app_export(frames, folder: Path) -> Path:
    """A 3D Scanner App "All Data" export: images on every third frame, plus non-frame files."""
    write_capture(frames, folder, color_every=3)
    cv2.imwrite(str(folder / "thumb_00000.jpg"), np.zeros((48, 64, 3), np.uint8))
    (folder / "info.json").write_text(json.dumps({"title": "box", "frameCount": len(frames)}))
    box = trimesh.creation.box(extents=BOX)
    box.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, (1, 0, 0)))  # z-up -> y-up
    (folder / "export.obj").write_text(box.export(file_type="obj"))
    cv2.imwrite(str(folder / "textured_output.jpg"), np.zeros((8, 8, 3), np.uint8))
    return folder


def test_scanner_app_export_with_thumbnail_mesh_and_sparse_colour(tmp_path, frames):
    folder = scanner_app_export(frames, tmp_path / "scan")
    assert sniff(folder) == "capture"
    cloud = load_points(folder)
    check_box(cloud)
    cap = cloud.meta["capture"]
    assert cap["app"] == "3D Scanner App" and cap["frames"] == 6 and cap["color_frames"] == 2
    assert cap["depth_size"] == "256x192" and cap["app_meshes"] == ["export.obj"]
    assert cap["time_span_s"] == pytest.approx(5 / 60, abs=1e-3)
    # frames 1, 2, 4, 5 borrow colours: the cloud is as blue as one coloured from every frame
    full = load_points(write_capture(frames, tmp_path / "full"))
    assert np.abs(np.median(cloud.rgb, axis=0) - np.median(full.rgb, axis=0)).max() < 0.02


def test_scanner_app_zip_and_app_mesh(tmp_path, frames):
    folder = scanner_app_export(frames, tmp_path / "scan")
    z = tmp_path / "scan.zip"
    with zipfile.ZipFile(z, "w") as w:
        for p in folder.iterdir():
            w.write(p, f"2024_05_01_box/{p.name}")
    check_box(load_points(z))
    mesh = load_app_mesh(z)
    assert mesh.meta["app_mesh"] == "export.obj"
    np.testing.assert_allclose(mesh.bounds, [np.negative(BOX) / 2, np.asarray(BOX) / 2], atol=1e-6)


def test_no_app_mesh_is_said_by_name(tmp_path, frames):
    folder = write_capture(frames[:2], tmp_path / "plain")
    with pytest.raises(UnsupportedInputError, match="holds no mesh of the app's own"):
        load_app_mesh(folder)
    with pytest.raises(UnsupportedInputError, match="is not one"):
        load_app_mesh(folder / "frame_00000.json")


@pytest.mark.parametrize("npy", [False, True])
def test_stray_scanner_folder(tmp_path, frames, npy):
    folder = write_stray(frames, tmp_path / "stray", npy=npy)
    raw = (folder / "odometry.csv").read_bytes()
    assert raw.startswith(b"timestamp, frame, x, y, z, qx, qy, qz, qw\r\n")
    cloud = load_points(folder)
    check_box(cloud)
    cap = cloud.meta["capture"]
    assert cap["app"] == "Stray Scanner" and cap["frames"] == 6 and cap["color_frames"] == 6
    assert cap["time_span_s"] == pytest.approx(5 / 60, abs=1e-3)


def test_stray_without_video_has_no_colours(tmp_path, frames):
    folder = write_stray(frames, tmp_path / "stray")
    (folder / "rgb.mp4").unlink()
    cloud = load_points(folder)
    check_box(cloud, colored=False)
    assert cloud.rgb is None and cloud.meta["capture"]["color_frames"] == 0


def test_record3d_r3d(tmp_path, frames):
    path = write_r3d(frames, tmp_path / "box.r3d")
    assert sniff(path) == "capture"
    cloud = load_points(path)
    check_box(cloud)
    cap = cloud.meta["capture"]
    assert cap["app"] == "Record3D" and cap["frames"] == 6 and cap["color_frames"] == 6
    assert cap["time_span_s"] == pytest.approx(5 / 60, abs=1e-3)


def test_depth_maps_of_another_size(tmp_path):
    """A 320x240 ToF-like depth map (and other focal length) in every layout."""
    tm = trimesh.creation.box(extents=BOX)
    tm.visual.face_colors = (*BOX_RGB, 255)
    cfg = SimConfig.ideal(
        depth_width=320, depth_height=240, focal_px=240.0, rgb_width=640, rgb_height=480
    )
    tof = simulate_capture(Mesh(tm=tm), n_views=4, radius=0.6, seed=1, config=cfg)
    for cloud in (
        load_points(write_capture(tof, tmp_path / "app")),
        load_points(write_stray(tof, tmp_path / "stray")),
        load_points(write_r3d(tof, tmp_path / "t.r3d")),
    ):
        assert cloud.meta["capture"]["depth_size"] == "320x240"
        d = box_distance(cloud.xyz)
        assert np.percentile(d, 99) < 0.004


def test_open_capture_keeps_frames_lazy_and_cleans_up(tmp_path, frames):
    path = write_r3d(frames[:2], tmp_path / "two.r3d")
    with open_capture(path) as cap:
        root = cap.root
        assert len(cap.frames) == 2 and cap.frames[1].depth_mm.shape == (192, 256)
    assert not root.exists()


# --- bad input -----------------------------------------------------------------------------------


def _break_stray(folder: Path, case: str) -> tuple[Path, str]:
    if case == "not a rotation":
        lines = (folder / "odometry.csv").read_text().splitlines()
        cells = lines[2].split(", ")
        cells[-1] = "3.0"
        lines[2] = ", ".join(cells)
        (folder / "odometry.csv").write_text("\n".join(lines))
        return folder / "odometry.csv", "line 3: pose is not a rotation"
    if case == "video does not decode":
        (folder / "rgb.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
        return folder / "rgb.mp4", "video does not decode"
    if case == "short video":
        frames_dir = folder / "depth"
        shutil.copy(frames_dir / "000005.png", frames_dir / "000006.png")
        shutil.copy(folder / "confidence" / "000005.png", folder / "confidence" / "000006.png")
        with (folder / "odometry.csv").open("a") as f:
            f.write("0.2, 6, 0, 0, 1, 0, 0, 0, 1\r\n")
        return folder / "rgb.mp4", "video does not decode at frame 6"
    if case == "mixed depth sizes":
        path = folder / "depth" / "000003.png"
        cv2.imwrite(str(path), np.zeros((240, 320), np.uint16))
        cv2.imwrite(str(folder / "confidence" / "000003.png"), np.zeros((240, 320), np.uint8))
        return path, "depth map is 320x240 but"
    if case == "missing depth":
        (folder / "depth" / "000002.png").unlink()
        return folder / "depth" / "000002.png", "missing (odometry.csv lists frame 2)"
    if case == "bad header":
        (folder / "odometry.csv").write_text("t, f, a, b\n1, 2, 3, 4\n")
        return folder / "odometry.csv", "header lacks timestamp"
    if case == "bad camera matrix":
        (folder / "camera_matrix.csv").write_text("1,2\n3,4\n")
        return folder / "camera_matrix.csv", "expected 3 rows of 3 numbers"
    if case == "truncated depth":
        path = folder / "depth" / "000001.png"
        path.write_bytes(path.read_bytes()[:50])
        return path, "not a readable image"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "not a rotation",
        "video does not decode",
        "short video",
        "mixed depth sizes",
        "missing depth",
        "bad header",
        "bad camera matrix",
        "truncated depth",
    ],
)
def test_bad_stray_captures_name_the_file(tmp_path, frames, case):
    folder = write_stray(frames, tmp_path / "stray")
    culprit, message = _break_stray(folder, case)
    with pytest.raises(InputFormatError) as err:
        load_points(folder)
    text = str(err.value)
    assert str(culprit) in text and message in text and "\n" not in text, text


def _r3d_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _rewrite(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)


@pytest.mark.parametrize(
    ("case", "culprit", "message"),
    [
        ("corrupt depth", "rgbd/1.depth", "does not decompress"),
        ("short depth", "rgbd/1.depth", "metadata's 256x192 float32 depth needs 196608"),
        ("not a rotation", "metadata", "pose 2 is not a rotation"),
        ("no K", "metadata", "no 'K' entry"),
        ("bad jpeg", "rgbd/0.jpg", "not a readable image"),
    ],
)
def test_bad_r3d_names_the_member(tmp_path, frames, case, culprit, message):
    import lzfse

    path = write_r3d(frames[:3], tmp_path / "bad.r3d")
    m = _r3d_members(path)
    meta = json.loads(m["metadata"])
    if case == "corrupt depth":
        m["rgbd/1.depth"] = m["rgbd/1.depth"][:20] + b"\xff" * 40
    elif case == "short depth":
        m["rgbd/1.depth"] = lzfse.compress(bytes(1000))
    elif case == "not a rotation":
        meta["poses"][2][:4] = [0.0, 0.0, 0.0, 2.0]
    elif case == "no K":
        del meta["K"]
    elif case == "bad jpeg":
        m["rgbd/0.jpg"] = m["rgbd/0.jpg"][:30]
    m["metadata"] = json.dumps(meta).encode()
    _rewrite(path, m)
    with pytest.raises(InputFormatError) as err:
        load_points(path)
    text = str(err.value)
    assert culprit in text and message in text and "\n" not in text, text


def test_a_folder_in_no_layout_is_refused(tmp_path):
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "notes.txt").write_text("hi")
    with pytest.raises(UnsupportedInputError, match="not a phone capture"):
        load_points(tmp_path / "odd")


def test_stray_toolkit_dataset_with_open3d_files(tmp_path, frames):
    from voxforge.io.stray import write_stray_dataset

    folder = write_stray_dataset(frames, tmp_path / "dataset")
    cloud = load_points(folder)
    check_box(cloud)
    cap = cloud.meta["capture"]
    assert cap["layout"] == "stray-dataset" and cap["frames"] == 6 and cap["color_frames"] == 6


def test_real_stray_odometry_with_crlf_spaces_and_hemisphere_flip(shared_data):
    from voxforge.io.stray import read_odometry

    times, numbers, poses = read_odometry(shared_data / "captures/stray_odometry-hameed/odometry.csv")
    assert len(poses) == 32 and numbers.tolist() == list(range(32))
    assert times[0] == pytest.approx(1326521.409)
    r = poses[:, :3, :3]
    np.testing.assert_allclose(r.transpose(0, 2, 1) @ r, np.broadcast_to(np.eye(3), r.shape), atol=1e-6)
    # rows 24 and 25 (frames 24 and 25) flip the quaternion's sign; the rotation stays close
    step = np.degrees(np.arccos(np.clip((np.trace(r[24].T @ r[25]) - 1) / 2, -1, 1)))
    assert step < 30.0


def test_real_open3d_intrinsics_and_trajectory(shared_data):
    from voxforge.io.arkit import check_pose
    from voxforge.io.stray import read_open3d_intrinsics, read_trajectory_log

    root = shared_data / "captures/straytoolkit_annotation-fixture"
    k, size, scale = read_open3d_intrinsics(root / "camera_intrinsics.json")
    assert size == (256, 192) and scale == 1000.0
    np.testing.assert_allclose(
        k[[0, 1, 0, 1], [0, 1, 2, 2]], [194.185227, 194.185227, 125.236413, 95.911973]
    )
    poses = read_trajectory_log(root / "scene/trajectory.log")
    assert poses.shape == (40, 4, 4)
    np.testing.assert_allclose(poses[0], np.eye(4), atol=1e-8)
    for pose in poses:
        check_pose(pose, "trajectory.log")
    assert np.abs(poses[:, :3, 3]).max() < 0.02


def test_cli_info_names_the_app_and_voxelize_uses_the_app_mesh(tmp_path, frames):
    from typer.testing import CliRunner

    from voxforge.cli import app

    folder = scanner_app_export(frames, tmp_path / "scan")
    runner = CliRunner()
    res = runner.invoke(app, ["info", str(folder)])
    assert res.exit_code == 0, res.output
    for line in ("app: 3D Scanner App", "frames: 6", "color_frames: 2", "depth_size: 256x192"):
        assert line in res.output
    assert "app_meshes: export.obj" in res.output and "--use-app-mesh" in res.output
    out = tmp_path / "out"
    res = runner.invoke(app, ["voxelize", str(folder), "-o", str(out), "--use-app-mesh", "-q"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    text = json.dumps(summary)
    assert '"app_mesh": "export.obj"' in text and '"kind": "Mesh"' in text
    plain = write_capture(frames[:2], tmp_path / "plain")
    res = runner.invoke(app, ["voxelize", str(plain), "-o", str(tmp_path / "o2"), "--use-app-mesh"])
    assert res.exit_code != 0 and "holds no mesh of the app's own" in res.output


def ply_sequence(frames, folder: Path, *, pad: int = 0, colored: bool = True) -> Path:
    """A Record3D PLY sequence: each frame's points in the recording's y-up world, sRGB colours."""
    from voxforge.core.pointcloud import PointCloud
    from voxforge.io.record3d import write_ply_sequence
    from voxforge.scan.fuse import frames_as_point_clouds

    clouds = frames_as_point_clouds(frames)
    if not colored:
        clouds = [PointCloud(xyz=c.xyz) for c in clouds]
    return write_ply_sequence(clouds, folder, pad=pad)


@pytest.mark.parametrize("pad", [0, 5])
def test_record3d_ply_sequence(tmp_path, frames, pad):
    folder = ply_sequence(frames, tmp_path / "seq", pad=pad)
    (folder / ".DS_Store").write_bytes(b"\0\1")
    (folder / "notes.txt").write_text("not a frame")
    assert sniff(folder) == "capture"
    cloud = load_points(folder)
    check_box(cloud)
    cap = cloud.meta["capture"]
    assert cap["app"] == "Record3D" and cap["layout"] == "record3d-ply"
    assert cap["frames"] == 6 and cap["color_frames"] == 6
    assert cap["depth_size"] is None and cap["time_span_s"] is None
    # the recording's metadata beside the frames gives the time span
    (folder / "metadata.json").write_text(json.dumps({"fps": 60}))
    with open_capture(folder) as c:
        assert c.summary()["time_span_s"] == pytest.approx(5 / 60, abs=1e-3)


def test_record3d_ply_sequence_zip_and_frame_order(tmp_path, frames):
    folder = ply_sequence(frames[:3], tmp_path / "seq")
    (folder / "1.ply").rename(folder / "10.ply")  # frame numbers sort as numbers, not text
    z = tmp_path / "seq.zip"
    with zipfile.ZipFile(z, "w") as w:
        for p in sorted(folder.iterdir()):
            w.write(p, f"Record3D_export/{p.name}")
    with open_capture(z) as cap:
        assert [p.name for p in cap.frames.files] == ["0.ply", "2.ply", "10.ply"]
        assert cap.summary()["frames"] == 3
    assert load_points(z).meta["capture"]["layout"] == "record3d-ply"


def test_uncoloured_ply_sequence(tmp_path, frames):
    cloud = load_points(ply_sequence(frames, tmp_path / "seq", colored=False))
    check_box(cloud, colored=False)
    assert cloud.rgb is None and cloud.meta["capture"]["color_frames"] == 0


def test_numbered_meshes_are_no_ply_sequence(tmp_path):
    folder = tmp_path / "meshes"
    folder.mkdir()
    for i in range(2):
        (folder / f"part{i}.ply").write_bytes(trimesh.creation.box().export(file_type="ply"))
    with pytest.raises(UnsupportedInputError, match="not a phone capture"):
        load_points(folder)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("truncated", "vertices ("),
        ("header cut", "no 'end_header' line"),
        ("garbage", "not a PLY file"),
        ("first frame garbage", "not a PLY file"),
        ("faces", "a PLY sequence frame is a point cloud"),
        ("no xyz", "no vertex element with x, y, z"),
    ],
)
def test_bad_ply_frame_names_the_file(tmp_path, frames, case, message):
    folder = ply_sequence(frames[:3], tmp_path / "seq")
    bad = folder / ("0.ply" if case.startswith("first") else "2.ply")
    raw = bad.read_bytes()
    if case == "truncated":
        bad.write_bytes(raw[: len(raw) // 2])
    elif case == "header cut":
        bad.write_bytes(raw[:40])
    elif case.endswith("garbage"):
        bad.write_bytes(b"\x89PNG" + raw[4:])
    elif case == "faces":
        bad.write_bytes(trimesh.creation.box().export(file_type="ply"))
    elif case == "no xyz":
        bad.write_bytes(raw.replace(b"property float x\n", b"property float u\n", 1))
    with pytest.raises(InputFormatError) as err:
        load_points(folder)
    text = str(err.value)
    assert str(bad) in text and message in text and "\n" not in text, text


def test_real_capture_folders_without_depth_name_the_app_and_what_is_missing(shared_data):
    from voxforge.core.errors import UnsupportedInputError

    for folder, app in (
        ("stray_odometry-hameed", "a Stray Scanner capture with its poses (odometry.csv)"),
        ("straytoolkit_annotation-fixture", "a Stray dataset with its intrinsics and poses"),
    ):
        path = shared_data / "captures" / folder
        with pytest.raises(UnsupportedInputError) as err:
            load_points(path)
        text = str(err.value)
        assert text.startswith(f"{path}: {app}") and "no depth frames" in text, text
        assert "\n" not in text


def test_exports_that_lost_their_depth_frames_say_so(tmp_path, frames):
    from voxforge.core.errors import UnsupportedInputError

    scan = scanner_app_export(frames, tmp_path / "scan")
    for p in scan.glob("depth_*.png"):
        p.unlink()
    r3d = tmp_path / "r3d"
    r3d.mkdir()
    (r3d / "metadata").write_text("{}")
    cases = {
        scan: "a 3D Scanner App export with its frame poses",
        r3d: "a Record3D export with its metadata",
    }
    for folder, words in cases.items():
        for read in (sniff, load_points):
            with pytest.raises(UnsupportedInputError, match=words):
                read(folder)
