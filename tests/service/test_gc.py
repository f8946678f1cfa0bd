"""Disk policy: per-key quotas, retention of finished jobs, ``voxforge admin gc``."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

from typer.testing import CliRunner

from voxforge.cli import app as cli
from voxforge.service.db import Job, utcnow
from voxforge.service.gc import collect, key_usage

from .conftest import add_key, running_app, submit, wait_for


def _age(client, job_id: str, days: float) -> None:
    db = client.app.state.voxforge.db
    with db.session() as s:
        s.get(Job, job_id).finished_at = utcnow() - dt.timedelta(days=days)


def test_admin_gc_applies_the_retention_policy(tmp_path: Path, box_stl: bytes) -> None:
    data = tmp_path / "d"
    with running_app(data) as c:
        key = add_key(c, "alice")
        ids = [submit(c, key, {"pipeline": "echo"}, box_stl).json()["id"] for _ in range(3)]
        for i in ids:
            assert wait_for(c, key, i)["status"] == "succeeded"
        old, middle, new = ids
        _age(c, old, 10)
        _age(c, middle, 3)
        state = c.app.state.voxforge
        dry = collect(state.db, state.storage, keep_days=7, dry_run=True)
        assert dry.jobs_deleted == [old] and (data / "jobs" / old).is_dir()
    orphan = data / "jobs" / ("f" * 32)
    orphan.mkdir()
    (orphan / "input").mkdir()
    (orphan / "input" / "x.stl").write_bytes(b"x" * 100)
    stamp = time.time() - 7200
    os.utime(orphan, (stamp, stamp))
    args = ["admin", "gc", "--keep-days", "7", "--keep-inputs-days", "1", "--data-dir", str(data)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "1 jobs deleted, 1 inputs removed, 1 orphan folders removed" in result.output
    assert not (data / "jobs" / old).exists() and not orphan.exists()
    assert not (data / "jobs" / middle / "input").exists()
    assert (data / "jobs" / middle / "output" / "echo.json").is_file()
    assert (data / "jobs" / new / "input").is_dir()
    with running_app(data) as c:
        listed = {j["id"] for j in c.get("/v1/jobs", headers=key).json()}
        assert listed == {middle, new}


def test_quota_per_key_refuses_submissions_past_it(tmp_path: Path, box_stl: bytes) -> None:
    with running_app(tmp_path / "d", quota_bytes_per_key=len(box_stl) * 2 + 1000) as c:
        alice, bob = add_key(c, "alice"), add_key(c, "bob")
        first = submit(c, alice, {"pipeline": "echo"}, box_stl).json()["id"]
        wait_for(c, alice, first)
        state = c.app.state.voxforge
        assert key_usage(state.db, state.storage, 1) > len(box_stl)
        codes = [submit(c, alice, {"pipeline": "echo"}, box_stl).status_code for _ in range(3)]
        assert codes[-1] == 413
        r = submit(c, alice, {"pipeline": "echo"}, box_stl)
        assert "quota" in r.json()["detail"]
        assert submit(c, bob, {"pipeline": "echo"}, box_stl).status_code == 202
        assert c.delete(f"/v1/jobs/{first}", headers=alice).status_code == 204
