"""The same job round trip on PostgreSQL, when a server is given in VOXFORGE_TEST_POSTGRES_URL."""

from __future__ import annotations

import os

import pytest

from .conftest import add_key, running_app, submit, wait_for

URL = os.environ.get("VOXFORGE_TEST_POSTGRES_URL")


@pytest.mark.skipif(
    not URL,
    reason="set VOXFORGE_TEST_POSTGRES_URL=postgresql+psycopg://user:pw@host/db (and install "
    "psycopg) to run the service tests against PostgreSQL",
)
def test_a_job_round_trip_on_postgres(tmp_path, box_stl):
    pytest.importorskip("psycopg", reason="PostgreSQL driver psycopg is not installed")
    from sqlalchemy import create_engine, text

    engine = create_engine(URL)  # a clean schema: drop what an earlier run left
    with engine.begin() as conn:
        for table in ("events", "artifacts", "jobs", "users"):
            conn.execute(text(f"DROP TABLE IF EXISTS {table} CASCADE"))
    engine.dispose()
    with running_app(tmp_path / "d", database_url=URL) as c:
        key, other = add_key(c, "alice"), add_key(c, "bob")
        job = submit(c, key, {"pipeline": "echo", "steps": 3}, box_stl).json()
        done = wait_for(c, key, job["id"])
        assert done["status"] == "succeeded"
        assert [a["name"] for a in done["artifacts"]] == ["echo.json", "steps/step_001.png"]
        assert c.get(f"/v1/jobs/{job['id']}", headers=other).status_code == 404
