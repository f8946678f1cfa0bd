"""The service under attack, carelessness and crashes: each test is one row of issue 20's table."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from voxforge.service.db import EventRow, Job
from voxforge.service.jobs import JobService, ProcessPoolRunner

from .conftest import add_key, running_app, submit, wait_for
from .helpers import HoldRunner

MIB = 1 << 20
SRC = Path(__file__).resolve().parents[2] / "src"


def npy_bomb(shape: tuple[int, ...]) -> bytes:
    """The header of a uint8 .npy of ``shape`` (zeros follow in :func:`zip_of_zeros`)."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return buf.getvalue()


def zip_of_zeros(path: Path, members: dict[str, tuple[bytes, int]]) -> None:
    """A deflated zip whose members are ``prefix`` then ``n`` zero bytes (a bomb, built small)."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, (prefix, n) in members.items():
            with z.open(name, "w", force_zip64=True) as out:
                out.write(prefix)
                for start in range(0, n, MIB):
                    out.write(bytes(min(MIB, n - start)))


def leftovers(data: Path) -> list[str]:
    """Temporary folders and half-written outputs under the job folders."""
    jobs = data / "jobs"
    return sorted(
        str(p.relative_to(data))
        for p in jobs.glob("*/*")
        if p.name == "tmp" or p.name.startswith(".output.tmp-")
    )


# ---------------------------------------------------------------- bombs


def test_npz_bomb_upload_is_refused_naming_the_cap(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.npz"
    zip_of_zeros(bomb, {"occupancy.npy": (npy_bomb((400, 400, 400)), 400**3)})
    with running_app(tmp_path / "d", max_array_bytes=8 * MIB) as c:
        key = add_key(c, "alice")
        r = submit(c, key, {"pipeline": "brickify"}, bomb.read_bytes(), "bomb.npz")
        assert r.status_code == 413, r.text
        assert "8,388,608 bytes" in r.json()["detail"]
        assert c.get("/v1/jobs", headers=key).json() == []


def test_capture_zip_bomb_upload_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "cap.zip"
    zip_of_zeros(bomb, {"cap/points.ply": (b"", 32 * MIB)})
    with running_app(tmp_path / "d", max_unzipped_bytes=4 * MIB) as c:
        key = add_key(c, "alice")
        r = submit(c, key, {"pipeline": "brickify"}, bomb.read_bytes(), "cap.zip")
        assert r.status_code == 413, r.text
        assert "4,194,304" in r.json()["detail"]


def test_options_asking_for_a_grid_over_the_cap_are_refused(tmp_path: Path, box_stl: bytes) -> None:
    with running_app(tmp_path / "d", max_cells=1000) as c:
        key = add_key(c, "alice")
        r = submit(c, key, {"pipeline": "brickify", "voxel": {"max_cells": 10**9}}, box_stl)
        assert r.status_code == 413
        assert "1,000 cells" in r.json()["detail"]


# ---------------------------------------------------------------- request hygiene


def test_deeply_nested_json_is_refused_not_a_500(client, alice) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    r = client.post("/v1/jobs", headers=alice, files={"file": ("a.stl", b"x")}, data={"params": deep})
    assert r.status_code == 422 and "nested deeper" in r.json()["detail"]
    r = client.post(
        "/v1/jobs",
        headers={**alice, "Content-Type": "application/json"},
        content='{"pipeline": "echotext", "prompt": ' + deep + "}",
    )
    assert r.status_code == 400 and "nested deeper" in r.json()["detail"]


def test_multipart_body_without_closing_boundary_makes_no_job(client, alice, box_stl) -> None:
    b = "XyZbOuNdArY"
    body = (
        f'--{b}\r\nContent-Disposition: form-data; name="params"\r\n\r\n'
        '{"pipeline": "echo"}\r\n'
        f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="box.stl"\r\n\r\n'
    ).encode() + box_stl[: len(box_stl) // 2]
    r = client.post(
        "/v1/jobs",
        headers={**alice, "Content-Type": f"multipart/form-data; boundary={b}"},
        content=body,
    )
    assert r.status_code == 400 and "closing boundary" in r.json()["detail"]
    assert client.get("/v1/jobs", headers=alice).json() == []


def test_an_empty_filename_is_read_as_the_file(client, alice, box_stl) -> None:
    r = submit(client, alice, {"pipeline": "echo"}, box_stl, filename="")
    assert r.status_code == 202, r.text
    assert wait_for(client, alice, r.json()["id"])["status"] == "succeeded"


@pytest.mark.parametrize("value", [True, "12", 12.5])
def test_option_types_are_strict(client, alice, box_stl, value) -> None:
    r = submit(client, alice, {"pipeline": "brickify", "width_studs": value}, box_stl)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("brickify options: width_studs:")


def test_a_stalled_upload_gets_408(tmp_path: Path) -> None:
    import anyio
    import httpx

    with running_app(tmp_path / "d", body_timeout_s=0.3) as c:
        key = add_key(c, "alice")
        app = c.app

        async def slow_body():
            yield b'--B\r\nContent-Disposition: form-data; name="params"\r\n\r\n'
            await anyio.sleep(5)
            yield b"never"

        async def main() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as ac:
                return await ac.post(
                    "/v1/jobs",
                    headers={**key, "Content-Type": "multipart/form-data; boundary=B"},
                    content=slow_body(),
                )

        start = time.monotonic()
        r = anyio.run(main)
        assert r.status_code == 408 and time.monotonic() - start < 4


def test_unauthenticated_requests_are_rate_limited(tmp_path: Path) -> None:
    with running_app(tmp_path / "d", anonymous_requests_per_minute=5) as c:
        codes = [
            c.get("/v1/jobs", headers={"Authorization": "Bearer nope"}).status_code for _ in range(8)
        ]
        assert codes[:5] == [401] * 5 and codes[-1] == 429
        key = add_key(c, "alice")
        assert c.get("/v1/jobs", headers=key).status_code == 200  # keys have their own budget


# ---------------------------------------------------------------- headers, docs, paths


def test_security_headers_on_every_response(client, alice) -> None:
    for r in (
        client.get("/"),
        client.get("/healthz"),
        client.get("/v1/jobs"),
        client.get("/v1/jobs/nope", headers=alice),
        client.get("/openapi.json"),
    ):
        assert r.headers["x-content-type-options"] == "nosniff"
        csp = r.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
        assert "http" not in csp  # nothing from other origins
        assert r.headers["referrer-policy"] == "no-referrer"
    assert client.get("/docs").status_code == 404


def test_errors_and_summaries_do_not_show_server_paths(tmp_path: Path, box_stl: bytes) -> None:
    data = tmp_path / "d"
    with running_app(data, runner=ProcessPoolRunner(1)) as c:
        key = add_key(c, "alice")
        service: JobService = c.app.state.voxforge.jobs  # type: ignore[attr-defined]
        with pytest.raises(Exception) as err:
            service.storage.read_manifest("0" * 32)
        assert str(tmp_path) not in str(err.value)
        job_dir = service.storage.job_dir("a" * 32)
        scrubbed = service._scrub(f"{job_dir}/input/x.ply: bad; see {data.resolve()}/voxforge.db")
        assert scrubbed == "input/x.ply: bad; see <data>/voxforge.db"
        r = submit(c, key, {"pipeline": "where"}, box_stl)
        job = wait_for(c, key, r.json()["id"])
        assert job["status"] == "succeeded", job
        summary = c.get(f"/v1/jobs/{job['id']}/artifacts/summary.json", headers=key).json()
        assert summary == {"input": "input/box.stl", "out": "output", "cwd": job["id"]}


# ---------------------------------------------------------------- storage failures


def test_locked_database_gives_503_json_quickly(tmp_path: Path, box_stl: bytes) -> None:
    data = tmp_path / "d"
    with running_app(data, db_timeout_s=0.3) as c:
        key = add_key(c, "alice")
        lock = sqlite3.connect(data / "voxforge.db", isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            start = time.monotonic()
            r = submit(c, key, {"pipeline": "echo"}, box_stl)
            assert r.status_code == 503, r.text
            assert "database" in r.json()["detail"]
            assert time.monotonic() - start < 10
            h = c.get("/healthz")
            assert h.status_code == 503 and "database" in h.json()["detail"]
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert c.get("/healthz").status_code == 200


def test_unwritable_data_folder_gives_503_not_400(tmp_path: Path, box_stl: bytes) -> None:
    data = tmp_path / "d"
    with running_app(data) as c:
        key = add_key(c, "alice")
        jobs = data / "jobs"
        jobs.rename(data / "jobs.away")
        jobs.write_text("not a folder")  # as good as read-only, even for root
        r = submit(c, key, {"pipeline": "echo"}, box_stl)
        assert r.status_code == 503, r.text
        assert "cannot be stored" in r.json()["detail"]
        h = c.get("/healthz")
        assert h.status_code == 503 and "data folder" in h.json()["detail"]
        jobs.unlink()
        (data / "jobs.away").rename(jobs)
        assert c.get("/healthz").status_code == 200


def test_terminal_event_lost_to_a_locked_database_is_stored_later(
    tmp_path: Path, box_stl: bytes
) -> None:
    data = tmp_path / "d"
    with running_app(data, db_timeout_s=0.2, reconcile_s=0.2) as c:
        key = add_key(c, "alice")
        job_id = submit(c, key, {"pipeline": "echo", "steps": 20, "delay_s": 0.05}, box_stl).json()["id"]
        service: JobService = c.app.state.voxforge.jobs  # type: ignore[attr-defined]
        lock = sqlite3.connect(data / "voxforge.db", isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            end = time.monotonic() + 20
            while service.unstored() == 0 and time.monotonic() < end:
                time.sleep(0.05)
            assert service.unstored() == 1  # the job finished while the database was locked
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert wait_for(c, key, job_id, timeout=20)["status"] == "succeeded"
        assert service.unstored() == 0


def test_reconciler_fails_a_running_job_no_worker_holds(tmp_path: Path, box_stl: bytes) -> None:
    data = tmp_path / "d"
    with running_app(data, runner=HoldRunner(), reconcile_s=0.1) as c:
        key = add_key(c, "alice")
        job_id = submit(c, key, {"pipeline": "echo"}, box_stl).json()["id"]
        service: JobService = c.app.state.voxforge.jobs  # type: ignore[attr-defined]
        with service.db.session() as s:  # the worker reported "started", then vanished
            s.get(Job, job_id).status = "running"  # type: ignore[union-attr]
            s.add(EventRow(job_id=job_id, kind="running", status="running"))
        assert service.reconcile() == []  # HoldRunner cannot say what it holds: left alone
        service.runner.held = lambda: set()  # type: ignore[attr-defined]
        assert service.reconcile() == [job_id]
        job = c.get(f"/v1/jobs/{job_id}", headers=key).json()
        assert job["status"] == "failed" and "worker" in job["error"]


def test_reconciler_leaves_a_job_that_starts_while_it_looks(tmp_path: Path, box_stl: bytes) -> None:
    """A job that the runner picks up and marks running while the reconciler reads is not failed
    as orphaned (the race two servers with a fast reconciler hit now and then)."""
    data = tmp_path / "d"
    with running_app(data, runner=HoldRunner(), reconcile_s=100) as c:
        key = add_key(c, "alice")
        job_id = submit(c, key, {"pipeline": "echo"}, box_stl).json()["id"]
        service: JobService = c.app.state.voxforge.jobs  # type: ignore[attr-defined]
        holds: set[str] = set()

        def held() -> set[str]:
            """The runner's answer, taken just before the job starts: the job then starts."""
            before = set(holds)
            if not holds:
                holds.add(job_id)
                with service.db.session() as s:
                    s.get(Job, job_id).status = "running"  # type: ignore[union-attr]
                    s.add(EventRow(job_id=job_id, kind="running", status="running"))
            return before

        service.runner.held = held  # type: ignore[attr-defined]
        assert service.reconcile() == []
        assert c.get(f"/v1/jobs/{job_id}", headers=key).json()["status"] == "running"
        assert service.reconcile() == []  # held now, still left alone


# ---------------------------------------------------------------- workers and restarts


def test_clean_shutdowns_requeue_without_spending_attempts(tmp_path: Path, box_stl: bytes) -> None:
    data = tmp_path / "d"
    params = {"pipeline": "hang", "steps": 100, "delay_s": 0.2}
    with running_app(data, runner=ProcessPoolRunner(1), max_attempts=1) as c:
        key = add_key(c, "alice")
        job_id = submit(c, key, params, box_stl).json()["id"]
        _wait_status(c, key, job_id, "running")
    for _ in range(1):  # a second routine restart, again while the job runs
        with running_app(data, runner=ProcessPoolRunner(1), max_attempts=1) as c:
            job = c.get(f"/v1/jobs/{job_id}", headers=key).json()
            assert job["status"] in ("queued", "running"), job
            _wait_status(c, key, job_id, "running")
    assert leftovers(data) == []
    with running_app(data, runner=HoldRunner(), max_attempts=1) as c:
        job = c.get(f"/v1/jobs/{job_id}", headers=key).json()
        assert job["status"] == "queued" and job["error"] is None


def test_killed_busy_worker_leaves_no_temporary_files(tmp_path: Path, box_stl: bytes) -> None:
    data = tmp_path / "d"
    runner = ProcessPoolRunner(1)
    with running_app(data, runner=runner) as c:
        key = add_key(c, "alice")
        job_id = submit(c, key, {"pipeline": "hang", "steps": 100, "delay_s": 0.2}, box_stl).json()["id"]
        _wait_status(c, key, job_id, "running")
        end = time.monotonic() + 10
        while len(leftovers(data)) < 2 and time.monotonic() < end:
            time.sleep(0.05)
        assert len(leftovers(data)) == 2  # tmp/ (the capture unpacked) and .output.tmp-*
        os.kill(runner._workers[0].process.pid, signal.SIGKILL)
        job = wait_for(c, key, job_id, timeout=20)
        assert job["status"] == "failed" and "exit code -9" in job["error"]
        assert leftovers(data) == []


def test_deleting_a_running_job_removes_its_temporary_folder(tmp_path: Path, box_stl: bytes) -> None:
    data = tmp_path / "d"
    with running_app(data, runner=ProcessPoolRunner(1)) as c:
        key = add_key(c, "alice")
        job_id = submit(c, key, {"pipeline": "hang", "steps": 100, "delay_s": 0.2}, box_stl).json()["id"]
        _wait_status(c, key, job_id, "running")
        end = time.monotonic() + 10
        while not (data / "jobs" / job_id / "tmp").is_dir() and time.monotonic() < end:
            time.sleep(0.05)
        assert c.delete(f"/v1/jobs/{job_id}", headers=key).status_code == 204
        assert not (data / "jobs" / job_id).exists()


def test_kill_9_of_the_server_leaves_no_orphan_workers(tmp_path: Path, box_stl: bytes) -> None:
    data = tmp_path / "d"
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "voxforge"]
    from voxforge.service.auth import create_user
    from voxforge.service.db import Database

    data.mkdir()
    db = Database(f"sqlite:///{data / 'voxforge.db'}")
    db.create_all()
    key = create_user(db, "alice")[1]
    db.dispose()
    port = _free_port()
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--data-dir", str(data), "--workers", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        import httpx

        base = f"http://127.0.0.1:{port}"
        _wait_http(base + "/healthz", 60)
        workers = _children(server.pid)
        assert len(workers) >= 2
        r = httpx.post(
            base + "/v1/jobs",
            headers={"Authorization": f"Bearer {key}"},
            files={"file": ("box.stl", box_stl)},
            data={"params": json.dumps({"pipeline": "brickify", "width_studs": 40})},
            timeout=30,
        )
        assert r.status_code == 202, r.text
    finally:
        server.kill()
        server.wait(10)
    end = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < end:
        time.sleep(0.1)
    assert [p for p in workers if _alive(p)] == []


def _wait_status(c, key, job_id: str, status: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if c.get(f"/v1/jobs/{job_id}", headers=key).json()["status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never {status}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float) -> None:
    import httpx

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc, Linux)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for a reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# ---------------------------------------------------------------- event streams


def test_event_streams_are_pushed_not_polled(tmp_path: Path, box_stl: bytes) -> None:
    from .conftest import read_events

    with running_app(tmp_path / "d", poll_interval_s=30) as c:
        key = add_key(c, "alice")
        service: JobService = c.app.state.voxforge.jobs  # type: ignore[attr-defined]
        reads = []
        original = service.events_after

        def counting(job_id: str, after: int):
            reads.append(after)
            return original(job_id, after)

        service.events_after = counting  # type: ignore[method-assign]
        job_id = submit(c, key, {"pipeline": "echo", "steps": 10, "delay_s": 0.05}, box_stl).json()["id"]
        start = time.monotonic()
        events = read_events(c, key, job_id)
        assert events[-1]["event"] == "succeeded"
        assert time.monotonic() - start < 10  # pushed: no 30 s fallback wait
        assert len(reads) <= len(events) + 2  # one read per wake-up, not 10 a second
        assert service.notifier.streams() == 0


def test_open_event_streams_are_capped_per_key(tmp_path: Path, box_stl: bytes) -> None:
    with running_app(tmp_path / "d", runner=HoldRunner(), max_streams_per_key=2) as c:
        key, other = add_key(c, "alice"), add_key(c, "bob")
        job_id = submit(c, key, {"pipeline": "echo"}, box_stl).json()["id"]
        other_job = submit(c, other, {"pipeline": "echo"}, box_stl).json()["id"]
        url = f"/v1/jobs/{job_id}/events"
        with c.stream("GET", url, headers=key) as a, c.stream("GET", url, headers=key) as b:
            assert a.status_code == b.status_code == 200
            third = c.get(url, headers=key)
            assert third.status_code == 429 and "2 event streams" in third.json()["detail"]
            with c.stream("GET", f"/v1/jobs/{other_job}/events", headers=other) as o:
                assert o.status_code == 200  # another key is not affected
                c.delete(f"/v1/jobs/{other_job}", headers=other)
                assert "event: queued" in list(o.iter_lines())
            c.delete(f"/v1/jobs/{job_id}", headers=key)  # deleting ends the streams
            assert "event: queued" in list(a.iter_lines())
            assert "event: queued" in list(b.iter_lines())
        state = c.app.state.voxforge  # type: ignore[attr-defined]
        end = time.monotonic() + 5
        while state.streams and time.monotonic() < end:
            time.sleep(0.05)
        assert state.streams == {}
