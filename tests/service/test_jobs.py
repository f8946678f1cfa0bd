"""Jobs: restart survival, the process-pool runner (progress from workers, crashes, cancel)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from voxforge.service.db import Database
from voxforge.service.jobs import JobSpec, ProcessPoolRunner, RunnerEvent, ThreadRunner, execute_job
from voxforge.service.settings import ServiceSettings

from .conftest import add_key, read_events, running_app, submit, wait_for
from .helpers import EchoConfig, HoldRunner, StartOnlyRunner, run_echo


def _key_for(data_dir: Path, name: str) -> dict[str, str]:
    """A key for a user created straight in the database of ``data_dir``."""
    from voxforge.service.auth import create_user

    db = Database(ServiceSettings(data_dir=data_dir).db_url)
    db.create_all()
    _, key = create_user(db, name)
    db.dispose()
    return {"Authorization": f"Bearer {key}"}


def test_a_queued_job_runs_after_a_restart(tmp_path, box_stl):
    data = tmp_path / "data"
    data.mkdir()
    key = _key_for(data, "alice")
    hold = HoldRunner()
    with running_app(data, runner=hold) as c:
        job = submit(c, key, {"pipeline": "echo"}, box_stl).json()
        assert hold.submitted == [job["id"]]
    # the first server stopped before any worker was free; a new one on the same data dir runs it
    with running_app(data) as c:
        done = wait_for(c, key, job["id"])
        assert done["status"] == "succeeded"
        assert [a["name"] for a in done["artifacts"]] == ["echo.json", "steps/step_001.png"]
        names = [e["event"] for e in read_events(c, key, job["id"])]
        assert names[:2] == ["queued", "running"] and names[-1] == "succeeded"


def test_a_job_running_when_the_server_died_is_retried(tmp_path, box_stl):
    data = tmp_path / "data"
    data.mkdir()
    key = _key_for(data, "alice")
    with running_app(data, runner=StartOnlyRunner()) as c:
        job = submit(c, key, {"pipeline": "echo"}, box_stl).json()
        running = c.get(f"/v1/jobs/{job['id']}", headers=key).json()
        assert running["status"] == "running" and running["progress"] == 0.25
    # a half-written output of the dead run must not survive
    partial = data / "jobs" / job["id"] / ".output.tmp-dead"
    partial.mkdir(parents=True)
    with running_app(data) as c:
        done = wait_for(c, key, job["id"])
        assert done["status"] == "succeeded" and done["error"] is None
        events = read_events(c, key, job["id"])
    assert not partial.exists()
    names = [e["event"] for e in events]
    assert names[:4] == ["queued", "running", "progress", "queued"]
    assert names[4] == "running" and names[-1] == "succeeded"
    assert events[3]["data"]["message"] == (
        "the server stopped while the job was running; started again (attempt 2 of 2)"
    )


def test_a_job_that_keeps_dying_is_failed_with_the_reason(tmp_path, box_stl):
    data = tmp_path / "data"
    data.mkdir()
    key = _key_for(data, "alice")
    with running_app(data, runner=StartOnlyRunner(), max_attempts=1) as c:
        job = submit(c, key, {"pipeline": "echo"}, box_stl).json()
    with running_app(data, max_attempts=1) as c:
        done = c.get(f"/v1/jobs/{job['id']}", headers=key).json()
        assert done["status"] == "failed"
        assert done["error"] == (
            "the server stopped while the job was running, 1 times; not started again"
        )
        assert done["finished_at"] is not None
        assert read_events(c, key, job["id"])[-1]["event"] == "failed"


def test_process_runner_runs_jobs_in_worker_processes(tmp_path, box_stl):
    with running_app(tmp_path / "d", runner=ProcessPoolRunner(workers=1)) as c:
        key = add_key(c, "alice")
        ok = submit(c, key, {"pipeline": "echo", "steps": 5}, box_stl).json()
        crash = submit(c, key, {"pipeline": "crash"}, box_stl).json()
        after = submit(c, key, {"pipeline": "echo", "steps": 2}, box_stl).json()
        done = wait_for(c, key, ok["id"], timeout=120)
        assert done["status"] == "succeeded"
        # progress reported inside the worker process reached the database
        events = read_events(c, key, ok["id"])
        assert [e["data"]["progress"] for e in events if e["event"] == "progress"] == [
            0.0,
            0.2,
            0.4,
            0.6,
            0.8,
            1.0,
        ]
        crashed = wait_for(c, key, crash["id"], timeout=120)
        assert crashed["status"] == "failed"
        assert crashed["error"] == "worker process died (exit code 3) while running the job"
        # the dead worker was replaced: the next job still runs
        assert wait_for(c, key, after["id"], timeout=120)["status"] == "succeeded"


@pytest.mark.slow  # spawns and replaces worker processes (~5 s)
def test_process_runner_stops_a_deleted_running_job(tmp_path, box_stl):
    runner = ProcessPoolRunner(workers=1)
    with running_app(tmp_path / "d", runner=runner) as c:
        key = add_key(c, "alice")
        slow = submit(c, key, {"pipeline": "echo", "steps": 100, "delay_s": 0.1}, box_stl).json()
        queued = submit(c, key, {"pipeline": "echo", "steps": 100, "delay_s": 0.1}, box_stl).json()
        end = time.monotonic() + 60
        while c.get(f"/v1/jobs/{slow['id']}", headers=key).json()["status"] != "running":
            assert time.monotonic() < end
            time.sleep(0.05)
        pid = runner._workers[0].process.pid
        assert c.delete(f"/v1/jobs/{queued['id']}", headers=key).status_code == 204
        assert c.delete(f"/v1/jobs/{slow['id']}", headers=key).status_code == 204
        assert runner._workers[0].process.pid != pid  # the worker was stopped and replaced
        last = submit(c, key, {"pipeline": "echo", "steps": 1}, box_stl).json()
        assert wait_for(c, key, last["id"], timeout=120)["status"] == "succeeded"
        assert [j["id"] for j in c.get("/v1/jobs", headers=key).json()] == [last["id"]]


def _spec(tmp_path: Path, **options) -> JobSpec:
    inp = tmp_path / "in.bin"
    inp.write_bytes(b"abc")
    return JobSpec("j1", "echo", run_echo, EchoConfig(**options), inp, tmp_path / "out")


def test_execute_job_reports_started_progress_and_one_terminal_event(tmp_path):
    events: list[RunnerEvent] = []
    execute_job(_spec(tmp_path, steps=3), events.append)
    assert [e.kind for e in events] == [
        "started",
        "progress",
        "progress",
        "progress",
        "progress",
        "succeeded",
    ]
    assert [round(e.progress, 3) for e in events[1:-1]] == [0.0, 0.333, 0.667, 1.0]
    events.clear()
    execute_job(_spec(tmp_path, fail=True), events.append)
    assert events[-1] == RunnerEvent("j1", "failed", error="echo: asked to fail")


def test_execute_job_turns_a_bug_into_an_internal_error(tmp_path):
    events: list[RunnerEvent] = []
    spec = _spec(tmp_path)
    bad = JobSpec(spec.job_id, "echo", run_echo, None, spec.input_path, spec.out_dir)  # type: ignore[arg-type]
    execute_job(bad, events.append)
    assert events[-1].kind == "failed"
    assert (
        events[-1].error == "internal error (AttributeError: 'NoneType' object has no attribute 'steps')"
    )


def test_thread_runner_cancel_stops_at_the_next_progress_report(tmp_path):
    events: list[RunnerEvent] = []
    runner = ThreadRunner(1)
    runner.start(events.append)
    runner.submit(_spec(tmp_path, steps=100, delay_s=0.01))
    time.sleep(0.1)
    assert runner.cancel("j1")
    runner.shutdown()
    assert events[0].kind == "started"
    assert all(e.kind != "succeeded" for e in events)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_make_runner_matches_the_setting(kind):
    from voxforge.service.jobs import make_runner

    runner = make_runner(kind, 3)
    assert isinstance(runner, ProcessPoolRunner if kind == "process" else ThreadRunner)
