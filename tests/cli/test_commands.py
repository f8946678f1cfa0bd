"""The command line as a user meets it: one line per error, non-zero exits, nothing half-written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import trimesh
from typer.testing import CliRunner

from voxforge.cli import app
from voxforge.core import PointCloud

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def cube_stl(tmp_path):
    path = tmp_path / "cube.stl"
    trimesh.creation.box(extents=[0.04, 0.04, 0.04]).export(path)
    return path


def test_info_json_on_real_scan(shared_data):
    r = run("info", str(shared_data / "scans" / "milk_color.pcd"), "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["kind"] == "PointCloud" and data["points"] == 13704 and data["colors"] is True
    assert 0.10 < max(data["extent_m"]) < 0.30


def test_formats_lists_every_family():
    r = run("formats")
    assert r.exit_code == 0
    for name in ("ply", "pcd", "las", "obj", "stl", "glb", "3mf", "binvox", "vox", "npz"):
        assert name in r.output


def test_voxelize_cli(cube_stl, tmp_path):
    out = tmp_path / "v"
    r = run("voxelize", str(cube_stl), "-o", str(out), "--width-studs", "6", "--hollow", "1", "-q")
    assert r.exit_code == 0, r.output
    assert "6 x 6 studs" in r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["grid"]["studs"] == [6, 6]
    assert summary["grid"]["meta"]["hollow"] == 1


def test_brickify_cli(cube_stl, tmp_path):
    out = tmp_path / "b"
    r = run(
        "brickify",
        str(cube_stl),
        "-o",
        str(out),
        "--width-studs",
        "4",
        "--colors",
        "single:4",
        "--seed",
        "3",
        "--safety-margin",
        "0.5",
        "-q",
    )
    assert r.exit_code == 0, r.output
    assert "safety_margin: 0.5" in (out / "config.yaml").read_text()
    assert "physics: stands; the most loaded stud uses" in r.output
    assert "connected:" not in r.output
    last = r.output.strip().splitlines()[-1]
    assert last.startswith("buildable: yes - one piece that stands on its own")
    assert last.endswith("(safety margin 50%)")
    summary = json.loads((out / "summary.json").read_text())
    assert [c["code"] for c in summary["colors"]] == [4]
    assert "seed: 3" in (out / "config.yaml").read_text()


@pytest.mark.parametrize(
    "args, code, needle",
    [
        (["info", "{tmp}/missing.ply"], 2, "missing.ply"),
        (["voxelize", "{tmp}/missing.obj", "-o", "{tmp}/out"], 2, "missing.obj"),
        (["voxelize", "{cube}", "-o", "{tmp}/out", "--width-studs", "100000"], 4, "width-studs"),
        (["voxelize", "{cube}", "-o", "{tmp}/out", "--scale", "huge"], 5, "--scale"),
        (["brickify", "{cube}", "-o", "{tmp}/out", "--colors", "single:9999"], 5, "9999"),
        (["brickify", "{cube}", "-o", "{tmp}/out", "--strategy", "gredy"], 5, "greedy"),
        (["brickify", "{cube}", "-o", "{tmp}/out", "--parts", "logs"], 5, "parts"),
        (["info", "{tmp}/empty.ply"], 2, "empty.ply"),
        (["info", "{tmp}/nan.xyz"], 3, "nan.xyz"),
        (["info", "{tmp}/lies.stl"], 2, "lies.stl"),
    ],
)
def test_bad_input_one_line_and_no_output(args, code, needle, cube_stl, tmp_path):
    (tmp_path / "empty.ply").write_bytes(b"")
    (tmp_path / "nan.xyz").write_text("0 0 0\nnan 1 2\n1 1 1\n")
    (tmp_path / "lies.stl").write_text("this is not a mesh at all\n" * 3)
    argv = [a.format(tmp=tmp_path, cube=cube_stl) for a in args]
    r = run(*argv)
    assert r.exit_code == code, r.output
    progress = re.compile(r"^voxforge: \w+ \(\d+% done, [\d.]+ s\)$")  # stage lines, no terminal
    lines = [line for line in r.output.splitlines() if line.strip() and not progress.match(line)]
    assert len(lines) == 1 and lines[0].startswith("voxforge: error: "), r.output
    assert needle in lines[0]
    assert "Traceback" not in r.output
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_console_script_runs_as_a_process(tmp_path):
    """The installed entry point: errors on stderr, exit code, no traceback."""
    exe = os.path.join(os.path.dirname(sys.executable), "voxforge")
    proc = subprocess.run([exe, "info", str(tmp_path / "nope.pcd")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "nope.pcd" in proc.stderr


def test_info_on_voxel_grid(tmp_path):
    from voxforge.core import VoxelGrid
    from voxforge.io import save_voxels

    save_voxels(VoxelGrid(np.ones((2, 3, 4), bool)), tmp_path / "g.npz")
    r = run("info", str(tmp_path / "g.npz"), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["filled"] == 24


def test_info_names_a_record3d_ply_sequence(tmp_path):
    from voxforge.io.ply import encode_ply

    folder = tmp_path / "seq"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):  # three frames of a 10 cm cube in Record3D's y-up world
        cloud = PointCloud(xyz=rng.uniform(-0.05, 0.05, (200, 3)), rgb=rng.random((200, 3)))
        (folder / f"{i:05d}.ply").write_bytes(encode_ply(cloud))
    (folder / "metadata.json").write_text(json.dumps({"fps": 30}))
    r = run("info", str(folder))
    assert r.exit_code == 0, r.output
    for line in ("layout: record3d-ply", "app: Record3D", "frames: 3", "time_span_s: 0.067"):
        assert line in r.output, r.output


def test_pick_point_chooses_another_object_of_the_real_tabletop(shared_data, tmp_path):
    scene = str(shared_data / "scans" / "milk_cartoon_all_small_clorox.pcd")
    r = run("voxelize", scene, "-o", str(tmp_path / "a"), "--width-studs", "8", "-q")
    assert r.exit_code == 0, r.output
    r = run(
        "voxelize",
        scene,
        "-o",
        str(tmp_path / "b"),
        "--width-studs",
        "8",
        "-q",
        "--pick-point",
        "0.168,-0.074,0.698",
    )
    assert r.exit_code == 0, r.output
    carton = json.loads((tmp_path / "a" / "summary.json").read_text())["clean"]
    bottle = json.loads((tmp_path / "b" / "summary.json").read_text())["clean"]
    assert carton["n_out"] != bottle["n_out"]
    assert (tmp_path / "b" / "config.yaml").read_text().count("0.168") == 1


def test_bad_pick_point_is_one_line(tmp_path, cube_stl):
    r = run("voxelize", str(cube_stl), "-o", str(tmp_path / "o"), "--pick-point", "1,2")
    assert r.exit_code == 5 and "--pick-point needs 3" in r.output
    assert not (tmp_path / "o").exists()


def test_margin_text_handles_unknown_verdicts():
    from voxforge.cli.report import margin_text as _margin_text

    assert _margin_text(0.4213) == "margin 0.42"
    assert _margin_text(None) == "margin not determined"
    assert _margin_text(float("nan")) == "margin not determined"


def test_problem_lines_warn_with_the_first_problems():
    from voxforge.cli.report import problem_lines

    assert problem_lines([]) == []
    problems = [{"step": k, "reason": f"the build so far is UNSTABLE ({k})"} for k in (4, 5, 6, 7)]
    problems.append({"step": None, "reason": "no stud path"})
    lines = problem_lines(problems)
    assert lines[0].startswith("warning: 5 build problem(s)")
    assert lines[1:4] == [f"  step {k}: the build so far is UNSTABLE ({k})" for k in (4, 5, 6)]
    assert lines[4] == "  ... and 2 more"
    assert problem_lines(problems[-1:])[1] == "  no stud path"
