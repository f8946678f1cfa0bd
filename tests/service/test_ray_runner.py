"""The service with the Ray runner: jobs as Ray tasks on a local Ray of 2 CPUs (one Ray session
for the module; skipped without Ray)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from voxforge.service.jobs import make_runner

from .conftest import add_key, read_events, running_app, submit, wait_for

ray = pytest.importorskip("ray")
TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray whose workers can import ``service.helpers`` (pytest imports it from tests/)."""
    from voxforge.batch.cluster import ray_session

    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), str(TESTS.parent), old) if p)
    try:
        with ray_session(None, 2) as r:
            yield r
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def test_ray_runner_runs_jobs_reports_progress_and_retries_a_dead_worker(ray_session, tmp_path, box_stl):
    from voxforge.service.ray_runner import RayRunner

    runner = RayRunner(workers=2, max_attempts=2)
    with running_app(tmp_path / "d", runner=runner, max_attempts=2) as c:
        key = add_key(c, "alice")
        ok = submit(c, key, {"pipeline": "echo", "steps": 5}, box_stl).json()
        crash = submit(c, key, {"pipeline": "crash"}, box_stl).json()
        bad = submit(c, key, {"pipeline": "echo", "fail": True}, box_stl).json()
        done = wait_for(c, key, ok["id"], timeout=120)
        assert done["status"] == "succeeded"
        assert [a["name"] for a in done["artifacts"]] == ["echo.json", "steps/step_001.png"]
        events = read_events(c, key, ok["id"])
        # progress reported inside the Ray worker reached the database, in order
        assert [e["data"]["progress"] for e in events if e["event"] == "progress"] == [
            0.0,
            0.2,
            0.4,
            0.6,
            0.8,
            1.0,
        ]
        assert [e["event"] for e in events][:2] == ["queued", "running"]
        failed = wait_for(c, key, bad["id"], timeout=120)
        assert failed["status"] == "failed" and failed["error"] == "echo: asked to fail"
        crashed = wait_for(c, key, crash["id"], timeout=120)
        assert crashed["status"] == "failed"
        assert crashed["error"].startswith("the Ray worker running the job died (")
        assert crashed["error"].endswith("2 attempt(s)")
        # Ray ran it again after its worker died: two starts in the job's events
        names = [e["event"] for e in read_events(c, key, crash["id"])]
        assert names.count("running") == 2 and names[-1] == "failed"
        assert runner.held() == set()


def test_ray_runner_cancels_a_deleted_running_job(ray_session, tmp_path, box_stl):
    from voxforge.service.ray_runner import RayRunner

    runner = RayRunner(workers=2)
    with running_app(tmp_path / "d", runner=runner) as c:
        key = add_key(c, "alice")
        slow = submit(c, key, {"pipeline": "echo", "steps": 100, "delay_s": 0.2}, box_stl).json()
        end = time.monotonic() + 60
        while c.get(f"/v1/jobs/{slow['id']}", headers=key).json()["status"] != "running":
            assert time.monotonic() < end
            time.sleep(0.05)
        assert slow["id"] in runner.running()
        assert c.delete(f"/v1/jobs/{slow['id']}", headers=key).status_code == 204
        assert slow["id"] not in runner.held()
        last = submit(c, key, {"pipeline": "echo", "steps": 1}, box_stl).json()
        assert wait_for(c, key, last["id"], timeout=120)["status"] == "succeeded"
        assert [j["id"] for j in c.get("/v1/jobs", headers=key).json()] == [last["id"]]
        assert not (tmp_path / "d" / "jobs" / slow["id"]).exists()


def test_make_runner_names_the_ray_runner_and_settings_take_an_address():
    from voxforge.service.ray_runner import RayRunner
    from voxforge.service.settings import ServiceSettings

    runner = make_runner("ray", 3, ray_address="auto", max_attempts=4)
    assert isinstance(runner, RayRunner)
    assert (runner.workers, runner.address, runner.max_attempts) == (3, "auto", 4)
    env = {"VOXFORGE_RUNNER": "ray", "VOXFORGE_RAY_ADDRESS": "ray://head:10001"}
    settings = ServiceSettings.from_env(env)
    assert settings.runner == "ray" and settings.ray_address == "ray://head:10001"
