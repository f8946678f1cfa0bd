"""The merged format table, content sniffing, lying extensions, bytes inputs, capture dispatch."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from voxforge.core import PointCloud, UnsupportedInputError, VoxelGrid
from voxforge.io import available_formats, load_any, load_mesh, load_points, save_points, sniff
from voxforge.io.formats import EXTENSIONS, FORMATS
from voxforge.io.pcd import encode_pcd
from voxforge.scan.capture import fuse_capture

CLOUD = PointCloud(
    xyz=np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]), rgb=np.array([[1, 0, 0], [0, 1, 0]])
)
OFF = b"OFF\n4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n"


def test_available_formats_table():
    table = {row["name"]: row for row in available_formats()}
    expected = {"ply", "pcd", "las", "xyz", "obj", "stl", "off", "glb", "gltf", "3mf", "npz", "npy"}
    assert expected | {"binvox", "vox", "capture", "usd"} == set(table)
    assert table["usd"]["extensions"] == [".usdz", ".usd", ".usda", ".usdc"]
    assert EXTENSIONS[".r3d"] == "capture"
    assert table["ply"]["kind"] == "points, mesh" and table["ply"]["write"] is True
    assert table["las"]["extensions"] == [".las", ".laz"] and table["las"]["write"] is False
    assert table["npz"]["kind"] == "voxels" and table["npz"]["write"] is True
    assert all(row["read"] and row["description"] for row in table.values())
    assert EXTENSIONS[".laz"] == "las" and EXTENSIONS[".stl"] == "stl"


def test_unknown_format_name_lists_close_matches():
    from voxforge.core import ConfigError

    with pytest.raises(ConfigError, match="did you mean ply"):
        FORMATS["plyy"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"ply\nformat ascii 1.0\nend_header\n", "ply"),
        (encode_pcd(CLOUD), "pcd"),
        (b"LASF" + bytes(300), "las"),
        (b"glTF" + bytes(20), "glb"),
        (b'{"asset": {"version": "2.0"}}', "gltf"),
        (OFF, "off"),
        (b"\x93NUMPY" + bytes(20), "npy"),
        (b"#binvox 1\ndim 1 1 1\n", "binvox"),
        (b"VOX " + bytes(20), "vox"),
        (b"solid x\n facet normal 0 0 1\n", "stl"),
        (b"# made by hand\nmtllib a.mtl\nv 0 0 0\nv 1 0 0\nf 1 2 2\n", "obj"),
        (b"1.0 2.0 3.0\n4 5 6\n", "xyz"),
    ],
)
def test_sniff_content_ignores_the_extension(data, expected):
    assert sniff(data, filename="misleading.dat") == expected


def test_sniff_zip_family():
    buf = io.BytesIO()
    np.savez(buf, occupancy=np.ones((1, 1, 1)))
    assert sniff(buf.getvalue(), filename="x.zip") == "npz"
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as w:
        w.writestr("scan/frame_00000.json", "{}")
    assert sniff(z.getvalue(), filename="x.bin") == "capture"


def test_sniff_falls_back_to_extension_then_refuses():
    assert sniff(b"\x01\x02\x03", filename="mystery.las") == "las"
    with pytest.raises(UnsupportedInputError, match=r"mystery\.abc: unknown format \(extension '\.abc'"):
        sniff(b"\x01\x02\x03", filename="mystery.abc")


def test_lying_extension_is_read_by_content(tmp_path, caplog):
    path = tmp_path / "scan.obj"  # really a PCD
    path.write_bytes(encode_pcd(CLOUD))
    cloud = load_points(path)
    np.testing.assert_array_equal(cloud.xyz, CLOUD.xyz)
    assert cloud.meta["format"] == "pcd" and cloud.meta["extension_mismatch"] == "obj"
    assert "extension says obj but content is pcd" in caplog.text


def test_lying_extension_mesh(tmp_path):
    path = tmp_path / "model.stl"
    path.write_bytes(OFF)
    mesh = load_mesh(path)
    assert mesh.meta["format"] == "off" and len(mesh.faces) == 4


def test_extension_and_content_disagree_and_neither_parses(tmp_path):
    path = tmp_path / "cloud.ply"
    path.write_bytes(b"#binvox 1\ndim 2 2 2\ndata\n\x01")
    with pytest.raises(UnsupportedInputError) as info:
        load_any(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: extension says PLY but content looks like BINVOX")
    assert "neither parses" in msg and "\n" not in msg


def test_kind_mismatch_names_the_right_loader():
    with pytest.raises(
        UnsupportedInputError, match=r"t\.off: OFF holds a mesh; use load_mesh or load_any"
    ):
        load_points(OFF, filename="t.off")


def test_bytes_input_round_trip(tmp_path):
    data = (save_points(CLOUD, tmp_path / "c.ply")).read_bytes()
    cloud = load_any(data, filename="upload.ply")
    assert isinstance(cloud, PointCloud) and cloud.meta["source"] == "upload.ply"
    assert load_any(data).meta["source"] == "<bytes>"


def test_save_points_format_by_extension(tmp_path):
    assert sniff(save_points(CLOUD, tmp_path / "a.pcd")) == "pcd"
    assert sniff(save_points(CLOUD, tmp_path / "a.csv")) == "xyz"
    assert sniff(save_points(CLOUD, tmp_path / "a.unknown")) == "ply"
    pcd_text = save_points(CLOUD, tmp_path / "b.pcd", ascii=True).read_bytes()
    assert b"DATA ascii" in pcd_text


# --- capture folders and zips -----------------------------------------------------------------


@pytest.fixture
def fake_arkit(monkeypatch):
    """Stand in for the capture layouts: a capture is a folder holding ``capture.txt`` with its
    frame count, and fusing gives one point per frame."""
    import voxforge.io.captures as captures
    import voxforge.scan.capture as fuse

    calls: list[Path] = []

    def is_capture(path):
        return Path(path, "capture.txt").is_file()

    def open_fake(path):
        calls.append(Path(path))
        n = int(Path(path, "capture.txt").read_text())
        return captures.Capture(
            app="fake", layout="fake", root=Path(path), frames=list(range(n)), color_frames=0,
            depth_size=(4, 3),
        )  # fmt: skip

    def fuse_frames(frames, **kw):
        n = len(frames)
        return PointCloud(xyz=np.arange(3 * n, dtype=float).reshape(n, 3))

    monkeypatch.setattr(captures, "_layouts", lambda: [("fake", is_capture, open_fake)])
    monkeypatch.setattr(fuse, "fuse_frames", fuse_frames)
    return calls


def test_capture_folder_dispatch(tmp_path, fake_arkit):
    (tmp_path / "cap").mkdir()
    (tmp_path / "cap" / "capture.txt").write_text("4")
    cloud = load_points(tmp_path / "cap", capture_reader=fuse_capture)
    assert len(cloud) == 4 and fake_arkit == [tmp_path / "cap"]
    assert cloud.meta["format"] == "fake" and cloud.meta["units"] == "m"
    assert cloud.meta["capture"]["frames"] == 4
    assert cloud.meta["units_guessed"] is False
    assert sniff(tmp_path / "cap") == "capture"


def test_folder_that_is_not_a_capture(tmp_path, fake_arkit):
    with pytest.raises(UnsupportedInputError, match="is a folder but not a phone capture"):
        load_any(tmp_path)


def test_zipped_capture_is_unpacked(tmp_path, fake_arkit):
    z = tmp_path / "cap.zip"
    with zipfile.ZipFile(z, "w") as w:
        w.writestr("mycapture/capture.txt", "5")
    cloud = load_points(z, capture_reader=fuse_capture)
    assert len(cloud) == 5 and fake_arkit[0].name == "mycapture"
    assert not fake_arkit[0].exists()  # the temporary folder is gone


def test_zip_with_escaping_member_is_refused(tmp_path, fake_arkit):
    from voxforge.core import InputFormatError

    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as w:
        w.writestr("../outside.txt", "x")
    with pytest.raises(InputFormatError, match="points outside the archive"):
        load_points(z, capture_reader=fuse_capture)
    assert not (tmp_path / "outside.txt").exists()


def test_io_reads_a_capture_only_through_a_capture_reader(tmp_path, fake_arkit):
    (tmp_path / "cap").mkdir()
    (tmp_path / "cap" / "capture.txt").write_text("3")
    assert sniff(tmp_path / "cap") == "capture"
    with pytest.raises(UnsupportedInputError, match=r"is a phone capture; voxforge\.io reads"):
        load_points(tmp_path / "cap")
    z = tmp_path / "cap.zip"
    with zipfile.ZipFile(z, "w") as w:
        w.writestr("mycapture/capture.txt", "3")
    with pytest.raises(UnsupportedInputError, match="is a phone capture"):
        load_any(z)
    assert fake_arkit == [tmp_path / "cap"]  # the zip was refused before unpacking
    seen = []

    def reader(cap, name):
        seen.append((cap.layout, cap.root.is_dir(), name))
        return PointCloud(np.zeros((3, 3)))

    assert len(load_points(z, capture_reader=reader)) == 3
    assert seen == [("fake", True, str(z))]  # unpacked while the reader runs
    assert not fake_arkit[-1].exists()  # and removed after


def test_voxel_grid_through_load_any(tmp_path):
    from voxforge.io import save_voxels

    grid = VoxelGrid(occupancy=np.ones((2, 2, 2), bool))
    assert isinstance(load_any(save_voxels(grid, tmp_path / "g.npz")), VoxelGrid)
