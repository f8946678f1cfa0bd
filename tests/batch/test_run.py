"""Running batches in this process (the baseline runner): reports, resume, a failing item, the CLI."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from voxforge.batch import LocalExecutor, expand_items, get_pipeline, read_report, run_batch
from voxforge.batch.items import option_overrides, parse_set
from voxforge.batch.run import REPORT_NAME, estimate_memory
from voxforge.cli import app

from .conftest import FAST


def _items(inputs, *sets):
    pipeline = get_pipeline("brickify")
    base = option_overrides(pipeline, parse_set([*FAST, "width_studs=6", *sets]), text=True)
    return pipeline, expand_items(pipeline, inputs, base)


def test_local_batch_writes_each_item_and_one_report_line_each(boxes, tmp_path):
    pipeline, items = _items(boxes)
    out = tmp_path / "out"
    seen = []
    result = run_batch(
        pipeline, items, out, LocalExecutor(), progress=lambda r, d, n: seen.append((d, n))
    )
    assert [r["status"] for r in result.records] == ["succeeded"] * 3
    assert seen == [(1, 3), (2, 3), (3, 3)]
    lines = [json.loads(x) for x in (out / REPORT_NAME).read_text().splitlines()]
    assert [x["name"] for x in lines] == ["box0", "box1", "box2"]
    for line in lines:
        folder = out / line["name"]
        summary = json.loads((folder / "summary.json").read_text())
        # the counts are the item's own, read from what its pipeline wrote
        assert line["counts"]["parts"] == summary["parts"]["total"] > 0
        assert line["counts"]["cells"] == summary["grid"]["filled"]
        assert (folder / "manifest.json").is_file() and (folder / "model.mpd").is_file()
        assert line["attempts"] == 1 and line["seconds"] > 0 and line["error"] is None
        assert line["options"] == {} and line["pipeline"] == "brickify"
    assert len({x["counts"]["cells"] for x in lines}) == 3
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no attempt markers left
    assert result.line().startswith("3 items: 3 succeeded, 0 failed, 0 skipped in ")


def test_a_failing_item_fails_alone_and_resume_reruns_only_it(boxes, empty_grid, tmp_path):
    pipeline, items = _items([*boxes[:2], empty_grid])
    out = tmp_path / "out"
    result = run_batch(pipeline, items, out, LocalExecutor())
    assert [r["status"] for r in result.records] == ["succeeded", "succeeded", "failed"]
    bad = result.failed[0]
    assert bad["name"] == "empty" and bad["error_type"] == "GeometryError"
    assert "empty" in bad["error"].lower() and "\n" not in bad["error"]
    assert not (out / "empty").exists()  # nothing half-written
    before = (out / "box0" / "manifest.json").stat().st_mtime_ns
    again = run_batch(pipeline, items, out, LocalExecutor(), resume=True)
    assert [r["status"] for r in again.records] == ["skipped", "skipped", "failed"]
    assert (out / "box0" / "manifest.json").stat().st_mtime_ns == before
    # the report keeps both runs; the last line of each item wins
    assert len((out / REPORT_NAME).read_text().splitlines()) == 6
    assert [r["status"] for r in read_report(out)] == ["skipped", "skipped", "failed"]


def test_memory_estimate_grows_with_the_grid_and_the_input(boxes):
    pipeline, small = _items(boxes[:1])
    _, large = _items(boxes[:1], "width_studs=40")
    assert estimate_memory(pipeline, large[0]) > estimate_memory(pipeline, small[0])
    assert estimate_memory(pipeline, small[0]) >= 1 << 30


def test_cli_batch_local_runner_and_exit_code_of_a_failed_item(boxes, empty_grid, tmp_path):
    out = tmp_path / "out"
    sets = [x for s in FAST for x in ("--set", s)]
    args = ["batch", str(tmp_path / "in"), "-o", str(out), "--runner", "local", "--width-studs", "6"]
    res = CliRunner().invoke(app, [*args, *sets])
    assert res.exit_code == 1, res.output
    assert "voxforge: empty: " in res.output and "3 of 4 items" not in res.output
    assert "4 items: 3 succeeded, 1 failed, 0 skipped" in res.output
    assert "1 of 4 items failed; their errors are in" in res.output
    assert "[4/4]" in res.output  # one line per finished item without a terminal
    empty_grid.unlink()
    res = CliRunner().invoke(app, [*args, *sets, "--resume"])
    assert res.exit_code == 0, res.output
    assert "3 items: 0 succeeded, 0 failed, 3 skipped" in res.output


def test_cli_refuses_bad_options_before_running(boxes, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["batch", str(boxes[0]), "-o", str(out), "--set", "strategy=fast"])
    assert res.exit_code == 5 and "--strategy must be" in res.output
    res = CliRunner().invoke(
        app, ["batch", str(boxes[0]), "-o", str(out), "-p", "mesh", "--width-studs", "4"]
    )
    assert res.exit_code == 5 and "--width-studs is an option of brickify and voxelize" in res.output
    res = CliRunner().invoke(
        app, ["batch", str(boxes[0]), "-o", str(out), "--runner", "local", "--address", "auto"]
    )
    assert res.exit_code == 5 and "need --runner ray" in res.output
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.txt").write_text("mine")
    res = CliRunner().invoke(
        app, ["batch", str(boxes[0]), "-o", str(tmp_path / "busy"), "--runner", "local"]
    )
    assert res.exit_code == 5 and "is not empty and holds no batch.jsonl" in res.output
    assert not out.exists()


def test_mesh_batch_runs_the_service_mesh_job_with_each_items_options(tmp_path):
    import trimesh

    (tmp_path / "in").mkdir()
    trimesh.creation.box(extents=[0.06, 0.04, 0.04]).export(tmp_path / "in" / "box.stl")
    trimesh.creation.icosphere(2, radius=0.03).export(tmp_path / "in" / "ball.stl")
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text(
        '{"input": "in/box.stl", "levels": 1}\n{"input": "in/ball.stl", "formats": ["glb", "stl"]}\n'
    )
    pipeline = get_pipeline("mesh")
    base = option_overrides(pipeline, parse_set(["levels=2", "formats=[glb]"]), text=True)
    items = expand_items(pipeline, [manifest], base)
    result = run_batch(pipeline, items, tmp_path / "out", LocalExecutor())
    assert [r["status"] for r in result.records] == ["succeeded", "succeeded"]
    box, ball = (tmp_path / "out" / "box"), (tmp_path / "out" / "ball")
    assert {p.name for p in box.glob("*.glb")} == {"mesh.glb", "lod0.glb", "lod_chain.glb"}
    assert (ball / "mesh.stl").is_file() and (ball / "lod1.glb").is_file()
    report = json.loads((ball / "report.json").read_text())
    assert result.records[1]["counts"]["faces"] == report["check"]["faces"] == 320
