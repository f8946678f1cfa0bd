"""Batches as Ray tasks on a local Ray of 2 CPUs (one Ray session for the module; skipped
without Ray)."""

from __future__ import annotations

import json

import pytest

from voxforge.batch import LocalExecutor, RayExecutor, expand_items, get_pipeline, run_batch
from voxforge.batch.items import option_overrides, parse_set

from .conftest import FAST, workers_import_tests

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray of 2 CPUs for the module; its workers can import ``tests`` (test tasks)."""
    from voxforge.batch.cluster import ray_session

    with workers_import_tests(), ray_session(None, 2) as r:
        yield r


def test_ray_batch_of_three_on_two_workers_matches_the_local_run(
    ray_session, boxes, empty_grid, tmp_path
):
    pipeline = get_pipeline("brickify")
    base = option_overrides(pipeline, parse_set([*FAST, "width_studs=6"]), text=True)
    items = expand_items(pipeline, [*boxes, empty_grid], base)
    on_ray = run_batch(pipeline, items, tmp_path / "ray", RayExecutor(workers=2))
    local = run_batch(pipeline, items, tmp_path / "local", LocalExecutor())
    assert on_ray.runner == "ray"
    assert [r["status"] for r in on_ray.records] == ["succeeded"] * 3 + ["failed"]
    assert on_ray.failed[0]["error"] == local.failed[0]["error"]
    for a, b in zip(on_ray.records[:3], local.records[:3], strict=True):
        assert a["counts"] == b["counts"]
        mpd = (tmp_path / "ray" / a["name"] / "model.mpd").read_text()
        assert mpd == (tmp_path / "local" / b["name"] / "model.mpd").read_text()
    nodes = {r["node"] for r in on_ray.records}
    assert nodes == {ray_session.get_runtime_context().get_node_id()}
    assert all(r["attempts"] == 1 for r in on_ray.records)
    # the tasks ran in Ray worker processes, not in this one
    import os

    assert os.getpid() not in {r["pid"] for r in on_ray.records}
    lines = [json.loads(x) for x in (tmp_path / "ray" / "batch.jsonl").read_text().splitlines()]
    assert sorted(x["name"] for x in lines) == ["box0", "box1", "box2", "empty"]


def test_a_worker_that_dies_is_retried_then_failed_alone(ray_session, boxes, tmp_path):
    from voxforge.batch.run import Task

    pipeline = get_pipeline("brickify")
    items = expand_items(pipeline, boxes[:1])
    crash = Task(
        "crash", _die, boxes[0], tmp_path / "out" / "crash", items[0].config, tmp_path / "out" / ".marks"
    )
    records = []
    RayExecutor(workers=2, max_retries=1).run([crash], records.append)
    assert records[0]["status"] == "failed", records
    assert records[0]["error"].startswith("its worker died 2 times ("), records
    # both attempts started: the marker folder holds two marks
    assert len(list((tmp_path / "out" / ".marks").iterdir())) == 2


def _die(input_path, out_dir, config, progress):
    import os

    os._exit(3)
