"""Several server processes sharing one database, one Redis and one S3 bucket.

The S3 tests run against moto's server mode (a real HTTP S3 endpoint in a subprocess), the Redis
tests against a real ``redis-server`` started on a free port (skipped when it is not installed).
The database is a SQLite file both apps open, or PostgreSQL when ``VOXFORGE_TEST_POSTGRES_URL`` is
set (``.ci/scaleout`` does that).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from voxforge.service.objects import ObjectStore

from .conftest import add_key, read_events, running_app, submit, wait_for
from .helpers import HoldRunner, StartOnlyRunner
from .scaleout import S3_ENV, free_port, moto_s3, redis_server

BUCKET = "voxforge-test"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    pytest.importorskip("boto3", reason="boto3 is not installed")
    pytest.importorskip("moto.server", reason="moto[server] is not installed")
    with moto_s3(BUCKET) as url:
        yield url


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    for k, v in S3_ENV.items():
        monkeypatch.setenv(k, v)
    prefix = f"t{time.monotonic_ns()}/"  # each test its own corner of the bucket
    return {"s3_bucket": BUCKET, "s3_endpoint_url": s3_endpoint, "s3_prefix": prefix}


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    pytest.importorskip("redis", reason="the redis package is not installed")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with redis_server(tmp_path / "redis") as url:
        yield url


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = os.environ.get("VOXFORGE_TEST_POSTGRES_URL")
    if not url:
        return f"sqlite:///{tmp_path / 'shared.db'}"
    from .test_postgres import _clean_schema

    _clean_schema()
    return url


# --------------------------------------------------------------------------- object store


def test_object_store_round_trip_on_an_s3_server(tmp_path, s3):
    store = ObjectStore(s3["s3_bucket"], endpoint_url=s3["s3_endpoint_url"], prefix=s3["s3_prefix"])
    store.check()
    src = tmp_path / "a.bin"
    src.write_bytes(os.urandom(300_000))  # several 64 KiB chunks
    store.put_file("jobs/j1/output/a.bin", src, "application/octet-stream")
    store.put_file("jobs/j1/input/in.stl", src)
    assert sorted(store.list("jobs/j1/")) == ["jobs/j1/input/in.stl", "jobs/j1/output/a.bin"]
    body = store.open("jobs/j1/output/a.bin")
    assert body is not None and body.size == 300_000
    assert b"".join(body.chunks) == src.read_bytes()
    assert store.open("jobs/j1/output/missing") is None
    url = store.presigned_url("jobs/j1/output/a.bin", "a.bin")
    r = httpx.get(url)
    assert r.status_code == 200 and r.content == src.read_bytes()
    assert 'filename="a.bin"' in r.headers["content-disposition"]
    store.get_file("jobs/j1/input/in.stl", tmp_path / "back" / "in.stl")
    assert (tmp_path / "back" / "in.stl").read_bytes() == src.read_bytes()
    assert store.delete_prefix("jobs/j1/") == 2
    assert store.list("jobs/j1/") == []


def test_an_unreachable_store_is_a_503_error(tmp_path, monkeypatch):
    from voxforge.service.objects import ObjectStoreError

    pytest.importorskip("boto3")
    for k, v in S3_ENV.items():
        monkeypatch.setenv(k, v)
    store = ObjectStore("b", endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ObjectStoreError, match="object storage: bucket b failed") as err:
        store.check()
    assert err.value.http_status == 503


# --------------------------------------------------------------------------- Redis


def test_rate_limits_are_shared_through_redis(redis_url):
    from voxforge.service.shared import RedisShared

    a, b = RedisShared(redis_url), RedisShared(redis_url)
    try:
        la, lb = a.limiter("jobs", 3), b.limiter("jobs", 3)
        assert [la.take(1), lb.take(1), la.take(1)] == [0.0, 0.0, 0.0]
        wait = lb.take(1)
        assert 0 < wait <= 20.5  # one token comes back every 20 s
        assert la.take(2) == 0.0  # another key has its own bucket
    finally:
        a.close()
        b.close()


def test_job_ownership_and_adoption_through_redis(redis_url):
    from voxforge.service.shared import RedisShared

    a, b = RedisShared(redis_url), RedisShared(redis_url)
    try:
        assert a.claim("j") == "adopted"  # nobody held it
        assert a.claim("j") == "mine"
        assert b.claim("j") == "other"  # a is alive
        a.close()  # a stops: its liveness key goes
        assert b.claim("j") == "adopted"
        b.release("j")
        assert b.claim("j") == "adopted"
    finally:
        b.close()


# --------------------------------------------------------------------------- two servers


def test_two_servers_share_jobs_events_downloads_limits_and_deletes(
    tmp_path, box_stl, s3, redis_url, database_url
):
    shared = {**s3, "redis_url": redis_url, "database_url": database_url, "jobs_per_minute": 4}
    # A long poll interval: B's stream only learns of A's events quickly through Redis. A short
    # reconcile interval: B must leave alone the job A runs (it is not in B's runner).
    with (
        running_app(tmp_path / "a", poll_interval_s=30, reconcile_s=0.05, **shared) as a,
        running_app(tmp_path / "b", poll_interval_s=30, reconcile_s=0.05, **shared) as b,
    ):
        key = add_key(a, "alice")
        job = submit(a, key, {"pipeline": "echo", "steps": 5, "delay_s": 0.1}, box_stl).json()
        t0 = time.monotonic()
        events = read_events(b, key, job["id"])
        assert time.monotonic() - t0 < 10
        assert events[-1]["event"] == "succeeded", events[-1]  # its error, should it fail
        assert [e["data"]["status"] for e in events][:2] == ["queued", "running"]
        done = b.get(f"/v1/jobs/{job['id']}", headers=key).json()
        assert done["status"] == "succeeded"
        # the download through B comes from the bucket: B's folder never had the job
        assert not (tmp_path / "b" / "jobs" / job["id"]).exists()
        r = b.get(f"/v1/jobs/{job['id']}/artifacts/echo.json", headers=key)
        assert r.status_code == 200
        local = tmp_path / "a" / "jobs" / job["id"] / "output" / "echo.json"
        assert r.content == local.read_bytes()
        assert r.headers["content-type"] == "application/json"
        png = b.get(f"/v1/jobs/{job['id']}/artifacts/steps/step_001.png", headers=key)
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
        assert b.get(f"/v1/jobs/{job['id']}/artifacts/nope.txt", headers=key).status_code == 404

        # one bucket of 4 submissions a minute for both servers together
        slow = submit(b, key, {"pipeline": "echo", "steps": 100, "delay_s": 0.05}, box_stl).json()
        assert submit(a, key, {"pipeline": "echo"}, box_stl).status_code == 202
        assert submit(b, key, {"pipeline": "echo"}, box_stl).status_code == 202
        refused = submit(a, key, {"pipeline": "echo"}, box_stl)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1

        # a DELETE on A stops the job B runs, and removes its files from the bucket
        end = time.monotonic() + 10
        while a.get(f"/v1/jobs/{slow['id']}", headers=key).json()["status"] != "running":
            assert time.monotonic() < end
            time.sleep(0.02)
        assert a.delete(f"/v1/jobs/{slow['id']}", headers=key).status_code == 204
        runner_b = b.app.state.voxforge.jobs.runner
        end = time.monotonic() + 10
        while slow["id"] in runner_b.held():
            assert time.monotonic() < end, "B's runner kept the deleted job"
            time.sleep(0.02)
        objects = a.app.state.voxforge.objects
        assert objects.list(f"jobs/{slow['id']}/") == []
        assert objects.list(f"jobs/{job['id']}/output/") != []


def test_a_live_server_adopts_the_jobs_of_one_that_died(tmp_path, box_stl, s3, redis_url, database_url):
    shared = {**s3, "redis_url": redis_url, "database_url": database_url, "server_ttl_s": 1}
    with running_app(tmp_path / "b", reconcile_s=0.1, **shared) as b:
        key = add_key(b, "alice")
        with running_app(tmp_path / "a", runner=StartOnlyRunner(), **shared) as a:
            job = submit(a, key, {"pipeline": "echo"}, box_stl).json()
            assert wait_running(a, key, job["id"])
            time.sleep(0.5)  # B's reconciler sees A's job running, held by a live server
            assert b.get(f"/v1/jobs/{job['id']}", headers=key).json()["status"] == "running"
        # A is gone (with its data folder: B fetches the upload from the bucket)
        shutil.rmtree(tmp_path / "a")
        done = wait_for(b, key, job["id"], timeout=30)
        assert done["status"] == "succeeded", done
        messages = [e["data"]["message"] for e in read_events(b, key, job["id"])]
        assert "its server stopped while the job was running; started again (attempt 2 of 2)" in messages


def wait_running(client, key, job_id: str, timeout: float = 10) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if client.get(f"/v1/jobs/{job_id}", headers=key).json()["status"] == "running":
            return True
        time.sleep(0.02)
    return False


def test_a_starting_server_leaves_the_scratch_of_jobs_live_servers_run(tmp_path, redis_url):
    from voxforge.service.shared import RedisShared
    from voxforge.service.storage import Storage

    a, b = RedisShared(redis_url), RedisShared(redis_url)
    try:
        storage = Storage(tmp_path / "shared-folder")
        for job in ("j1", "j2"):
            storage.scratch_dir(job).mkdir(parents=True)
        assert a.claim("j1") == "adopted"
        assert b.held_elsewhere("j1") and not a.held_elsewhere("j1")
        assert storage.sweep(b.held_elsewhere) == 1  # b starts: only j2's leftovers go
        assert storage.scratch_dir("j1").is_dir() and not storage.scratch_dir("j2").exists()
    finally:
        a.close()
        b.close()


def test_presigned_downloads_redirect_to_the_bucket(tmp_path, box_stl, s3):
    with running_app(tmp_path / "d", s3_presign=True, **s3) as c:
        key = add_key(c, "alice")
        job = wait_for(c, key, submit(c, key, {"pipeline": "echo"}, box_stl).json()["id"])
        r = c.get(f"/v1/jobs/{job['id']}/artifacts/echo.json", headers=key, follow_redirects=False)
        assert r.status_code == 307
        assert r.headers["location"].startswith(s3["s3_endpoint_url"])
        got = httpx.get(r.headers["location"])
        local = tmp_path / "d" / "jobs" / job["id"] / "output" / "echo.json"
        assert got.status_code == 200 and got.content == local.read_bytes()
        assert c.get("/healthz").status_code == 200


def test_an_unreachable_redis_is_one_clear_error(tmp_path):
    pytest.importorskip("redis")
    from voxforge.service.shared import SharedStateUnavailableError

    with (
        pytest.raises(SharedStateUnavailableError, match=r"the shared state \(Redis\) is unavailable"),
        running_app(tmp_path / "d", redis_url=f"redis://127.0.0.1:{free_port()}/0"),
    ):
        pass


def test_requests_get_503_while_redis_is_down(tmp_path):
    pytest.importorskip("redis")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = redis_server(tmp_path / "redis")
    url = server.__enter__()
    with running_app(tmp_path / "d", redis_url=url) as c:
        key = add_key(c, "alice")
        assert c.get("/v1/jobs", headers=key).status_code == 200
        server.__exit__(None, None, None)  # Redis stops under the running server
        r = c.get("/v1/jobs", headers=key)
        assert r.status_code == 503
        assert r.json()["detail"].startswith("the shared state (Redis) is unavailable")
        assert c.get("/healthz").status_code == 503


def test_the_stream_cap_of_a_key_holds_across_servers(tmp_path, box_stl, redis_url, database_url):
    shared = {"redis_url": redis_url, "database_url": database_url, "max_streams_per_key": 2}
    with (
        running_app(tmp_path / "a", runner=HoldRunner(), **shared) as a,
        running_app(tmp_path / "b", runner=HoldRunner(), **shared) as b,
    ):
        key = add_key(a, "alice")
        job_id = submit(a, key, {"pipeline": "echo"}, box_stl).json()["id"]
        url = f"/v1/jobs/{job_id}/events"
        with a.stream("GET", url, headers=key) as s1, b.stream("GET", url, headers=key) as s2:
            assert s1.status_code == s2.status_code == 200
            third = a.get(url, headers=key)  # A holds one stream of the key, B the other
            assert third.status_code == 429 and "2 event streams" in third.json()["detail"]
            b.delete(f"/v1/jobs/{job_id}", headers=key)  # ends both streams (through Redis)
            assert "event: queued" in list(s1.iter_lines())
            assert "event: queued" in list(s2.iter_lines())
        end = time.monotonic() + 5  # ended streams give their slots back
        while a.app.state.voxforge.streams or b.app.state.voxforge.streams:
            assert time.monotonic() < end, "streams still counted"
            time.sleep(0.05)
        job_id = submit(a, key, {"pipeline": "echo"}, box_stl).json()["id"]
        url = f"/v1/jobs/{job_id}/events"
        with b.stream("GET", url, headers=key) as s3, b.stream("GET", url, headers=key) as s4:
            assert s3.status_code == s4.status_code == 200
            assert a.get(url, headers=key).status_code == 429
            b.delete(f"/v1/jobs/{job_id}", headers=key)
            assert "event: queued" in list(s3.iter_lines())
            assert "event: queued" in list(s4.iter_lines())
