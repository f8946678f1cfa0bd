"""The same job round trip on PostgreSQL, when a server is given in VOXFORGE_TEST_POSTGRES_URL."""

from __future__ import annotations

import os

import pytest

from .conftest import add_key, running_app, submit, wait_for

URL = os.environ.get("VOXFORGE_TEST_POSTGRES_URL")


needs_postgres = pytest.mark.skipif(
    not URL,
    reason="set VOXFORGE_TEST_POSTGRES_URL=postgresql+psycopg://user:pw@host/db (and install "
    "psycopg) to run the service tests against PostgreSQL (.ci/postgres does both)",
)


def _clean_schema() -> None:
    pytest.importorskip("psycopg", reason="PostgreSQL driver psycopg is not installed")
    from sqlalchemy import create_engine, text

    engine = create_engine(URL)  # a clean schema: drop what an earlier run left
    with engine.begin() as conn:
        for table in ("events", "artifacts", "jobs", "users"):
            conn.execute(text(f"DROP TABLE IF EXISTS {table} CASCADE"))
    engine.dispose()


@needs_postgres
def test_a_job_round_trip_on_postgres(tmp_path, box_stl):
    _clean_schema()
    with running_app(tmp_path / "d", database_url=URL) as c:
        key, other = add_key(c, "alice"), add_key(c, "bob")
        job = submit(c, key, {"pipeline": "echo", "steps": 3}, box_stl).json()
        done = wait_for(c, key, job["id"])
        assert done["status"] == "succeeded"
        assert [a["name"] for a in done["artifacts"]] == ["echo.json", "steps/step_001.png"]
        assert c.get(f"/v1/jobs/{job['id']}", headers=other).status_code == 404


@needs_postgres
def test_health_quota_retention_reconciler_and_restart_on_postgres(tmp_path, box_stl):
    import datetime as dt

    from voxforge.service.auth import authenticate, rotate_user
    from voxforge.service.db import Job, utcnow
    from voxforge.service.gc import collect, key_usage

    from .helpers import HoldRunner

    _clean_schema()
    data = tmp_path / "d"
    with running_app(data, database_url=URL, quota_bytes_per_key=10**6) as c:
        assert c.get("/healthz").status_code == 200
        key = add_key(c, "alice")
        state = c.app.state.voxforge
        done = wait_for(c, key, submit(c, key, {"pipeline": "echo"}, box_stl).json()["id"])
        assert key_usage(state.db, state.storage, 1) > len(box_stl)
        with state.db.session() as s:
            s.get(Job, done["id"]).finished_at = utcnow() - dt.timedelta(days=9)
        assert collect(state.db, state.storage, keep_days=7).jobs_deleted == [done["id"]]
        _, new_key = rotate_user(state.db, "alice")
        assert authenticate(state.db, new_key) is not None
    hold = HoldRunner()
    with running_app(data, database_url=URL, runner=hold) as c:
        key = add_key(c, "bob")
        job_id = submit(c, key, {"pipeline": "echo"}, box_stl).json()["id"]
        service = c.app.state.voxforge.jobs
        with service.db.session() as s:
            s.get(Job, job_id).status = "running"
        hold.held = lambda: set()  # type: ignore[attr-defined]
        assert service.reconcile() == [job_id]
