"""The ``order`` CLI command on a local typer app."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from voxforge.bricks.ldraw import read_ldraw_plan, write_mpd
from voxforge.cli.order import order
from voxforge.core.brickmodel import BrickModel, Placement

app = typer.Typer()
app.command("order")(order)
app.command("noop")(lambda: None)  # two commands: typer keeps "order" as a sub-command


def _model() -> BrickModel:
    ps = [Placement("3003", 2 * i, 0, 0, 2, 2, 3, 4) for i in range(8)]
    ps += [Placement("3001", 4 * i, 0, 3, 4, 2, 3, 1) for i in range(4)]
    return BrickModel(ps, (16, 2, 6))


def test_order_writes_a_planned_mpd(tmp_path: Path) -> None:
    src, out = tmp_path / "in.mpd", tmp_path / "out.mpd"
    write_mpd(_model(), src, title="six", steps="none")
    res = CliRunner().invoke(app, ["order", str(src), "-o", str(out), "--json", "-q"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["steps"] == 2 and summary["prefixes_connected"] is True
    assert summary["prefixes_stable"] is True and summary["problems"] == []
    model, plan = read_ldraw_plan(out)
    assert len(model) == 12 and plan is not None
    assert [sorted(model.placements[i].z for i in s.parts) for s in plan.steps] == [[0] * 8, [3] * 4]


def test_order_bad_input_is_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["order", str(tmp_path / "nope.ldr"), "-o", str(tmp_path / "o.mpd")])
    assert res.exit_code == 2 and "nope.ldr" in res.output
    assert not (tmp_path / "o.mpd").exists()
