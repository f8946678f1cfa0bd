"""The completion commands as a user meets them: outputs, one-line errors, nothing half-written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from voxforge.cli import app
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.io import save_points, save_voxels

from .conftest import box_cloud

runner = CliRunner()


@pytest.fixture(scope="module")
def box_ply(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("scan") / "box.ply"
    save_points(box_cloud("front_top"), path)
    return path


def test_complete_writes_grid_mesh_preview_and_summary(tmp_path, box_ply) -> None:
    out = tmp_path / "out"
    r = runner.invoke(app, ["complete", str(box_ply), "-o", str(out), "--method", "symmetry",
                            "--no-clean", "-q"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "(one-sided)" in r.output, r.output
    for name in ("completed.npz", "completed.ply", "preview.png", "summary.json", "manifest.json"):
        assert (out / name).is_file(), name
    s = json.loads((out / "summary.json").read_text())
    c = s["completion"]
    assert c["one_sided"] and c["method"] == "symmetry" and c["added_cells"] > 0
    from voxforge.io import load_voxels

    grid = load_voxels(out / "completed.npz")
    assert grid.count == c["completed_cells"]
    shades = {tuple(np.round(v, 2)) for v in grid.colors[grid.occupancy]}
    assert len(shades) == 2  # observed and completed cells differ


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["complete", "/nonexistent/scan.ply"], "scan.ply"),
        (["complete", "BOX", "--method", "guess"], "method"),
        (["complete", "BOX", "--weights", "/nonexistent/model"], "completion model 'model' not found"),
        (["complete", "GRID"], "needs a scan or mesh"),
        (["evaluate", "completion", "--data", "/nonexistent/set.npz"], "set.npz"),
        (["evaluate", "completion", "--data", "GRID", "--split", "test"], "--split"),
        (["brickify", "BOX", "--complete", "maybe"], "complete"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, box_ply, args, text) -> None:
    grid = tmp_path / "grid.npz"
    save_voxels(VoxelGrid(np.ones((4, 4, 4), bool), pitch=0.01), grid)
    args = [{"BOX": str(box_ply), "GRID": str(grid)}.get(a, a) for a in args]
    out = tmp_path / "out"
    if args[0] in ("complete", "brickify"):
        args = [*args, "-o", str(out), "-q"]
    r = runner.invoke(app, args)
    assert r.exit_code != 0
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and text in lines[0], r.output
    assert not out.exists()
