"""scan.capture: captures opened through io and fused in scan; a zip lives until fusion ends."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

import voxforge
from voxforge.core.errors import InputFormatError, UnsupportedInputError
from voxforge.io import load_any
from voxforge.io.arkit import write_capture
from voxforge.scan.capture import load_capture, load_capture_mesh, load_input
from voxforge.scan.sim import SimConfig, simulate_capture


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    """A three-frame simulated capture of the sample mug scene, written as a 3D Scanner App folder."""
    from voxforge.scan.examples import make_mug_scene, mug_scan_poses

    frames = simulate_capture(make_mug_scene(), poses=mug_scan_poses()[:3], seed=0, config=SimConfig())
    return write_capture(frames, tmp_path_factory.mktemp("cap") / "scan")


def _zip(folder: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as z:
        for p in sorted(folder.iterdir()):
            z.write(p, f"scan/{p.name}")
    return out


def test_a_zipped_capture_fuses_like_its_folder_and_leaves_no_temporary_folder(capture, tmp_path):
    folder = load_capture(capture)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    before, tempfile.tempdir = tempfile.tempdir, str(tmp)
    try:
        zipped = load_capture(_zip(capture, tmp_path / "scan.zip"))
    finally:
        tempfile.tempdir = before
    assert list(tmp.iterdir()) == []
    np.testing.assert_array_equal(folder.xyz, zipped.xyz)
    assert zipped.meta["format"] == "3d-scanner-app" and zipped.meta["capture"]["frames"] == 3
    assert zipped.meta["source"] == str(tmp_path / "scan.zip")


def test_load_input_and_the_front_door_fuse_captures_that_io_refuses(capture):
    with pytest.raises(UnsupportedInputError, match="is a phone capture"):
        load_any(capture)
    direct = load_capture(capture)
    for cloud in (load_input(capture), voxforge.load(capture)):
        np.testing.assert_array_equal(cloud.xyz, direct.xyz)
        assert cloud.meta["units"] == "m" and cloud.meta["units_guessed"] is False


def test_errors_inside_a_zip_name_the_member_not_the_temporary_folder(capture, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for p in capture.iterdir():
        (bad / p.name).write_bytes(p.read_bytes())
    (bad / "frame_00001.json").write_text("{")
    z = _zip(bad, tmp_path / "bad.zip")
    with pytest.raises(InputFormatError) as err:
        load_input(z)
    assert str(err.value).startswith(f"{z}/scan/frame_00001.json: not valid JSON")


def test_capture_mesh_is_fused_in_scan(capture):
    mesh = load_capture_mesh(capture, voxel_size=0.01)
    assert len(mesh.faces) > 0 and mesh.meta["format"] == "3d-scanner-app"
    assert mesh.meta["capture"]["frames"] == 3


def test_a_zipped_capture_warns_about_its_own_files_not_the_temporary_folder(capture, tmp_path, caplog):
    folder = tmp_path / "scan"
    folder.mkdir()
    for p in capture.iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "depth_00099.png").write_bytes((capture / "depth_00000.png").read_bytes())  # no JSON
    with caplog.at_level("WARNING"):
        load_capture(_zip(folder, tmp_path / "scan.zip"))
    orphans = [r.getMessage() for r in caplog.records if "no frame JSON" in r.getMessage()]
    assert len(orphans) == 1 and "1 depth maps" in orphans[0]
    assert orphans[0].startswith(f"{tmp_path / 'scan.zip'}/scan: ")  # the member, not /tmp/...
