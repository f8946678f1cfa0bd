import json

import pytest
import typer
from typer.testing import CliRunner

from voxforge.bricks.ldraw import read_ldraw, write_mpd
from voxforge.cli.instructions import instructions
from voxforge.core.brickmodel import BrickModel, Placement
from voxforge.core.errors import GeometryError, InputFormatError
from voxforge.instructions.booklet import InstructionsConfig
from voxforge.pipelines.instructions import run_instructions


def _house(tmp_path):
    """A 4 x 4 two-layer model written as LDraw."""
    places = []
    for z, rot in ((0, 0), (3, 1)):
        for k in range(4):
            sx, sy = (4, 1) if rot == 0 else (1, 4)
            x, y = (0, k) if rot == 0 else (k, 0)
            places.append(Placement("3010", x, y, z, sx, sy, 3, (4, 1, 14, 15)[k], rot))
    model = BrickModel(places, (4, 4, 6))
    path = tmp_path / "house.mpd"
    write_mpd(model, path, title="Little house")
    return model, path


def test_run_instructions_writes_booklets_and_a_restepped_model(tmp_path):
    model, path = _house(tmp_path)
    out = tmp_path / "out"
    stages = []
    cfg = InstructionsConfig(image_size=160)
    result = run_instructions(path, out, cfg, progress=lambda s, f: stages.append(f))
    names = {p.name for p in out.iterdir()}
    assert names == {
        "instructions.pdf",
        "instructions.html",
        "instructions.json",
        "steps",
        "model.mpd",
        "summary.json",
        "config.yaml",
        "manifest.json",
    }
    s = json.loads((out / "summary.json").read_text())
    assert s["input"]["parts"] == len(model) == 8
    assert s["plan"]["steps"] == len(result.plan.steps)
    assert s["instructions"]["images"] == len(result.plan.steps) + sum(
        len(sub.steps) for sub in result.plan.submodels
    )
    doc = json.loads((out / "instructions.json").read_text())
    assert doc["title"] == "Little house"
    back = read_ldraw(out / "model.mpd")
    assert sorted((p.x, p.y, p.z, p.part) for p in back.placements) == sorted(
        (p.x, p.y, p.z, p.part) for p in model.placements
    )
    assert stages == sorted(stages) and stages[-1] == pytest.approx(1.0)


def test_run_instructions_refuses_broken_or_empty_files_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.mpd"
    bad.write_text("0 FILE main.ldr\n1 4 0 0 zero 1 0 0 0 1 0 0 0 1 3001.dat\n")
    with pytest.raises(InputFormatError, match=r"bad\.mpd"):
        run_instructions(bad, tmp_path / "out")
    empty = tmp_path / "empty.ldr"
    empty.write_text("0 just a title\n")
    with pytest.raises(GeometryError, match=r"empty\.ldr: the model has no parts"):
        run_instructions(empty, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_instructions_command(tmp_path):
    _, path = _house(tmp_path)
    app = typer.Typer()
    app.command("instructions")(instructions)
    app.command("noop")(lambda: None)
    runner = CliRunner()
    out = tmp_path / "o"
    res = runner.invoke(
        app, ["instructions", str(path), "-o", str(out), "--formats", "pdf", "--size", "128", "-q"]
    )
    assert res.exit_code == 0, res.output
    assert "8 parts in" in res.output and f"wrote {out}/ (model.mpd, instructions.pdf" in res.output
    assert (out / "instructions.pdf").is_file() and not (out / "instructions.html").exists()
    res = runner.invoke(app, ["instructions", str(path), "-o", str(out), "--formats", "epub", "-q"])
    assert res.exit_code == 5 and "formats" in res.output and "Traceback" not in res.output
