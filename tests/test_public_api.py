"""The public API (``voxforge.load`` ... ``voxforge.reconstruct``): its doctests and its results."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys

import numpy as np
import pytest
import trimesh

import voxforge
import voxforge.api
from voxforge.core.errors import ConfigError, UnsupportedInputError


def test_the_docstring_examples_run():
    result = doctest.testmod(voxforge.api, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted >= 20
    assert result.failed == 0


def test_import_is_cheap_and_the_names_resolve():
    code = (
        "import sys, voxforge; heavy = [m for m in ('trimesh', 'torch', 'scipy', 'numpy') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    for name in voxforge.__all__:
        assert getattr(voxforge, name) is not None, name
    from voxforge.core import BrickModel, Placement

    assert voxforge.BrickModel is BrickModel and voxforge.Placement is Placement


def test_instructions_is_callable_after_the_subpackage_is_imported(tmp_path):
    import voxforge.instructions.booklet  # binds the sub-package to voxforge.instructions

    bricks = voxforge.brickify(voxforge.VoxelGrid(np.ones((4, 2, 3), bool)))
    out = voxforge.instructions(bricks.model, tmp_path / "book", formats=["steps"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert "instructions.json" in {f["path"] for f in manifest["outputs"]}
    assert (out / "model.mpd").read_text().count("0 STEP") >= 1


def test_brickify_a_solid_cube_is_one_grounded_piece_of_all_its_cells():
    bricks = voxforge.brickify(voxforge.VoxelGrid(np.ones((4, 4, 4), bool)), seed=0)
    assert bricks.buildable and bricks.verdict.grounded and bricks.verdict.pieces == 1
    occupied = bricks.model.occupancy()
    assert occupied.shape == (4, 4, 4) and occupied.all()
    assert sum(row.quantity for row in bricks.parts) == len(bricks.model.placements)
    assert bricks.preview(96).shape[:2] == (96, 96)


def test_brickify_joins_two_towers_into_one_piece_covering_them():
    occ = np.zeros((5, 1, 3), bool)
    occ[0], occ[4] = True, True
    bricks = voxforge.brickify(voxforge.VoxelGrid(occ))
    assert bricks.verdict.pieces == 1 and bricks.buildable
    assert bricks.model.occupancy()[occ].all()


def test_brickify_a_mesh_follows_width_and_saves_the_job_files(tmp_path):
    box = voxforge.Mesh(trimesh.creation.box((0.08, 0.04, 0.02)))
    bricks = voxforge.brickify(box, width_studs=8, colors="single:4")
    assert bricks.grid.shape[:2] == (8, 4)
    assert {row.color for row in bricks.parts} == {4}
    out = bricks.save(tmp_path / "job")
    for name in ("model.mpd", "bom.csv", "preview.png", "summary.json", "manifest.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "summary.json").read_text())["verdict"]["buildable"] is True


def test_brickify_refuses_an_unknown_strategy_before_reading_the_input(tmp_path):
    with pytest.raises(ConfigError, match="strategy"):
        voxforge.brickify(tmp_path / "does-not-exist.ply", strategy="nope")


def test_load_and_voxelize_a_file_round_trip(tmp_path):
    from voxforge.io import save_voxels

    occ = np.zeros((6, 6, 6), bool)
    occ[1:5, 1:5, :3] = True
    save_voxels(voxforge.VoxelGrid(occ), tmp_path / "g.npz")
    grid = voxforge.load(tmp_path / "g.npz")
    assert isinstance(grid, voxforge.VoxelGrid) and grid.count == occ.sum()
    same = voxforge.voxelize(tmp_path / "g.npz", width_studs=None)
    assert same.count == occ.sum()
    with pytest.raises(UnsupportedInputError):
        (tmp_path / "x.weird").write_bytes(b"\x00\x01 nothing")
        voxforge.load(tmp_path / "x.weird")
