"""mesh parts: a brick model as a GLB with one node per part and LEGO colour materials."""

from __future__ import annotations

from pathlib import Path

import pytest
import trimesh
from typer.testing import CliRunner

from voxforge.cli.mesh import mesh_app
from voxforge.core.errors import GeometryError
from voxforge.mesh.parts import parts_glb, parts_scene

MPD = """0 FILE main.ldr
0 two bricks
1 4 0 -24 0 1 0 0 0 1 0 0 0 1 3001.dat
1 1 0 -48 0 1 0 0 0 1 0 0 0 1 3001.dat
1 1 60 -24 0 1 0 0 0 1 0 0 0 1 3003.dat
"""


def test_one_node_per_part_and_a_material_per_colour(tmp_path: Path) -> None:
    mpd = tmp_path / "model.mpd"
    mpd.write_text(MPD)
    scene = parts_scene(mpd)
    assert len(scene.geometry) == 3
    names = sorted(scene.graph.nodes_geometry)
    assert names[0].startswith("0000 3001 ") and "3003" in names[2]
    materials = {g.visual.material.name for g in scene.geometry.values()}
    assert materials == {"LEGO Red (4)", "LEGO Blue (1)"}
    back = trimesh.load(trimesh.util.wrap_as_stream(parts_glb(mpd)), file_type="glb")
    assert len(back.geometry) == 3
    # glTF is Y-up: the two stacked bricks are 2 bricks (19.2 mm) tall along y.
    assert back.extents[1] == pytest.approx(0.0192 + 0.0017, abs=0.001)  # plus the top studs


def test_cli_and_errors(tmp_path: Path) -> None:
    (tmp_path / "model.mpd").write_text(MPD)
    res = CliRunner().invoke(mesh_app, ["parts", str(tmp_path), "-o", str(tmp_path / "parts.glb")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "parts.glb").stat().st_size > 1000
    (tmp_path / "empty.mpd").write_text("0 FILE main.ldr\n0 nothing\n")
    with pytest.raises(GeometryError):
        parts_scene(tmp_path / "empty.mpd")
    res = CliRunner().invoke(
        mesh_app, ["parts", str(tmp_path / "nowhere"), "-o", str(tmp_path / "x.glb")]
    )
    assert res.exit_code != 0 and not (tmp_path / "x.glb").exists()
