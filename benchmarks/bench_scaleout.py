"""The service scaled out: 2 ``voxforge serve`` processes sharing PostgreSQL, Redis and S3, 20 clients.

First, for comparison under the same machine load, one ``voxforge serve`` with its defaults
(SQLite, local folder, twice the workers): ``one_server``. Then ``two_servers``: a throw-away
PostgreSQL cluster (Debian's binaries; a SQLite file when they are missing, and the figures say
which), ``redis-server`` and moto's S3 server on free ports, and two ``voxforge serve``
processes, each with its own data folder (as on two machines) and the ``--runner`` given
(default ``process``, one worker each; ``ray``: both servers drive one Ray cluster of a head and
a second node started here with ``ray start``, one CPU each, and so does the one server).
``--clients`` threads, each with its own API key, submit
``--jobs`` brickify jobs (a 6 x 4 x 4 cm box at 8 studs) one after another to one server and poll
``GET /v1/jobs/{id}`` on the *other* every ``--poll`` seconds until the job is terminal, then
download its ``model.mpd`` through the other server (from the bucket) and compare it with the
file the worker wrote. Reported for each: jobs submitted / succeeded / failed / lost (never
terminal), downloads that failed or differ, wall time, throughput, status-poll latency (p50, p95,
max in ms), submit latency, jobs per server, and the rows of the events table per job (the
database's write load per job); for the shared set-up also the Redis round trips one client
makes per second (rate-limit steps, event publishes) and Redis's memory.

Usage: ``.venv/bin/python benchmarks/bench_scaleout.py [--clients 20] [--jobs 2] [--runner process]``
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.service.scaleout: the Redis and S3 server helpers
sys.path.insert(0, str(HERE))

from bench_service import box_stl, free_port, submit_and_poll  # noqa: E402

RUNS = {"service_scaleout": ["--runner", "ray"], "service_scaleout_process": []}
QUICK = {
    "service_scaleout": ["--runner", "ray", "--clients", "4", "--jobs", "1"],
    "service_scaleout_process": ["--clients", "4", "--jobs", "1"],
}
TARGETS = {
    "service_scaleout": {
        "two_servers.poll_ms_p95": "< 100 ms (#25)",
        "two_servers.lost": "0 (#25)",
    },
    "service_scaleout_process": {
        "two_servers.poll_ms_p95": "< 100 ms (#25)",
        "two_servers.lost": "0 (#25)",
    },
}
ABOUT = {
    "service_scaleout_process": "The service scaled out with the process runner: 2 servers "
    "sharing PostgreSQL, Redis and S3, 20 clients\n\n"
    "As `service_scaleout`, but each `voxforge serve` runs its jobs in its own worker process "
    "(`--runner process`, one worker per server; the one-server comparison has two) instead of "
    "as Ray tasks: one server with its defaults first, then two sharing a throw-away "
    "PostgreSQL, `redis-server` and moto's S3 server; clients submit to one server and poll and "
    "download through the other."
}
BUCKET = "voxforge-bench"


@contextlib.contextmanager
def postgres(wanted: bool = True) -> Iterator[str | None]:
    """A throw-away PostgreSQL cluster on a Unix socket (as .ci/postgres starts one); None
    when not ``wanted`` or without Debian's binaries or the psycopg driver."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin")) if wanted else []
    try:
        import psycopg  # noqa: F401
    except ImportError:
        bins = []
    if not bins:
        yield None
        return
    pg = bins[-1]
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="voxforge-pg-"))  # its own folder: chowned below
    if os.getuid() == 0:  # initdb refuses root: the cluster belongs to an unprivileged user
        user = (
            "postgres"
            if subprocess.run(["id", "postgres"], capture_output=True).returncode == 0
            else "nobody"
        )
        shutil.chown(folder, user)
        as_user = ["runuser", "-u", user, "--"]
    data, port = folder / "data", free_port()
    run = lambda *a: subprocess.run([*as_user, *a], check=True, capture_output=True)  # noqa: E731
    run(str(pg / "initdb"), "-D", str(data), "-A", "trust", "-U", "voxforge")
    run(str(pg / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
        f"-k {folder} -c listen_addresses='' -p {port} -c max_connections=200", "start")  # fmt: skip
    try:
        run(str(pg / "createdb"), "-h", str(folder), "-p", str(port), "-U", "voxforge", "bench")
        yield f"postgresql+psycopg://voxforge@/bench?host={folder}&port={port}"
    finally:
        subprocess.run([*as_user, str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


class Serve:
    """One ``voxforge serve`` process on a free port."""

    def __init__(self, env: dict[str, str], data: Path, runner: str, workers: int) -> None:
        self.port = free_port()
        cmd = [sys.executable, "-m", "voxforge", "serve", "--port", str(self.port)]
        cmd += ["--data-dir", str(data), "--workers", str(workers)]
        self.env = {**env, "VOXFORGE_RUNNER": runner}
        self.log = open(data.parent / f"serve-{self.port}.log", "wb")
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        import httpx

        end = time.monotonic() + 180
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise SystemExit(f"voxforge serve exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit("voxforge serve did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def client(
    submit_to: str, poll_at: str, key: str, n_jobs: int, poll: float, stl: bytes, out: dict
) -> None:
    """Submit to one server, poll and download through the other; record latencies."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    with (
        httpx.Client(base_url=submit_to, headers=headers, timeout=60) as a,
        httpx.Client(base_url=poll_at, headers=headers, timeout=60) as b,
    ):
        for _ in range(n_jobs):
            job = submit_and_poll(a, b, stl, poll, out)
            if job is None or job.get("status") != "succeeded":
                continue
            job_id = job["id"]
            art = next(x for x in job["artifacts"] if x["name"] == "model.mpd")
            got = b.get(f"/v1/jobs/{job_id}/artifacts/model.mpd")
            if got.status_code == 200 and len(got.content) == art["size"]:
                out["downloads"].append((job_id, hashlib.sha256(got.content).hexdigest()))
            else:
                out["downloads_bad"].append(job_id)


def redis_round_trips(url: str, n: int = 3000) -> dict:
    """Rate-limit steps and event publishes per second from one client, one after another (the
    round trips a server makes per request and per stored event)."""
    from voxforge.service.shared import RedisShared

    shared = RedisShared(url)
    try:
        limiter = shared.limiter("bench", 1e9)
        t0 = time.perf_counter()
        for i in range(n):
            limiter.take(i % 100)
        takes = n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for i in range(n):
            shared.publish("e", f"job{i % 50}")
        publishes = n / (time.perf_counter() - t0)
        memory = shared.client.info("memory")["used_memory"]
    finally:
        shared.close()
    return {"rate_limit_steps_per_s": round(takes), "publishes_per_s": round(publishes),
            "used_memory_mb": round(memory / 2**20, 1)}  # fmt: skip


def merged_ids(results: list[dict]) -> list[str]:
    return [i for r in results for i in r["ids"]]


def events_per_job(db_url: str, ids: list[str]) -> list[int]:
    """Rows of the events table each job wrote (what the database stores per job)."""
    from sqlalchemy import func, select

    from voxforge.service.db import Database, EventRow

    db = Database(db_url)
    try:
        with db.session() as s:
            rows = s.execute(
                select(EventRow.job_id, func.count())
                .where(EventRow.job_id.in_(ids))
                .group_by(EventRow.job_id)
            ).all()
    finally:
        db.dispose()
    return [int(n) for _, n in rows]


FIELDS = ("submit_ms", "poll_ms", "ids", "succeeded", "failed", "rejected", "downloads",
          "downloads_bad", "downloads_ok")  # fmt: skip


@contextlib.contextmanager
def ray_cluster(args: argparse.Namespace) -> Iterator[dict[str, str]]:
    """With ``--runner ray``: a Ray head and a second node on this machine (``ray start``), one
    CPU each (the two workers of the process runner); the environment that makes the servers
    its drivers. Nothing otherwise."""
    if args.runner != "ray":
        yield {}
        return
    from voxforge.batch.cluster import LocalCluster

    cluster = LocalCluster(cpus=(1, 1)).start()
    try:
        yield {**cluster.driver_env(), "VOXFORGE_RAY_ADDRESS": cluster.address}
    finally:
        cluster.stop()


def measure(
    tmp: Path, env: dict, names: list[str], db_url: str, args: argparse.Namespace, workers: int
) -> dict:
    """Start ``voxforge serve`` in folders ``tmp/<name>``, run the clients (submitting to one
    server, polling and downloading through the next), stop the servers; the figures."""
    from voxforge.service.auth import create_user
    from voxforge.service.db import Database

    for name in names:
        (tmp / name).mkdir()
    db = Database(db_url)
    db.create_all()
    keys = [create_user(db, f"client{i}")[1] for i in range(args.clients + 1)]
    db.dispose()
    servers = [Serve(env, tmp / name, args.runner, workers) for name in names]
    n = len(servers)
    try:
        for s in servers:
            s.wait_ready()
        stl = box_stl()
        # one job per worker first: worker start-up (imports, numba) is not timed
        warm: dict = {k: [] for k in FIELDS}
        for i, s in enumerate(servers):
            client(s.base, servers[(i + 1) % n].base, keys[-1], workers, 0.05, stl, warm)
        results = [{k: [] for k in FIELDS} for _ in range(args.clients)]
        pairs = [(servers[i % n].base, servers[(i + 1) % n].base) for i in range(args.clients)]
        threads = [
            threading.Thread(
                target=client, args=(*pairs[i], keys[i], args.jobs, args.poll, stl, results[i])
            )
            for i in range(args.clients)
        ]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        ran_on = [len(list((tmp / name / "jobs").glob("*/input"))) - workers for name in names]
        events = events_per_job(db_url, merged_ids(results))
        for r in results:  # the bytes served (from the bucket) are the file the worker wrote
            for job_id, sha in r["downloads"]:
                local = next(tmp.glob(f"*/jobs/{job_id}/output/model.mpd"))
                same = hashlib.sha256(local.read_bytes()).hexdigest() == sha
                r["downloads_ok" if same else "downloads_bad"].append(job_id)
    finally:
        for s in servers:
            s.stop()
    merged = {k: [v for r in results for v in r[k]] for k in FIELDS}
    polls, submits = np.asarray(merged["poll_ms"]), np.asarray(merged["submit_ms"])
    submitted = len(merged["ids"])
    terminal = len(merged["succeeded"]) + len(merged["failed"])
    return {
        "servers": n,
        "workers_per_server": workers,
        "submitted": submitted,
        "succeeded": len(merged["succeeded"]),
        "failed": len(merged["failed"]),
        "rejected": len(merged["rejected"]),
        "lost": submitted - terminal,
        "downloads_ok": len(merged["downloads_ok"]),
        "downloads_bad": len(merged["downloads_bad"]),
        "jobs_per_server": ran_on,  # less the warm-up
        "event_rows_per_job_median": float(np.median(events)) if events else None,
        "event_rows_per_job_max": max(events) if events else None,
        "wall_s": round(wall, 2),
        "throughput_jobs_per_s": round(len(merged["succeeded"]) / wall, 3),
        "polls": int(polls.size),
        "polls_per_s": round(polls.size / wall, 1),
        "poll_ms_p50": round(float(np.percentile(polls, 50)), 1),
        "poll_ms_p95": round(float(np.percentile(polls, 95)), 1),
        "poll_ms_max": round(float(polls.max()), 1),
        "submit_ms_p50": round(float(np.percentile(submits, 50)), 1),
        "submit_ms_p95": round(float(np.percentile(submits, 95)), 1),
    }


def run(args: argparse.Namespace) -> dict:
    from tests.service.scaleout import S3_ENV, moto_s3, redis_server

    base_env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "VOXFORGE_JOBS_PER_MINUTE": "1000",
        "VOXFORGE_REQUESTS_PER_MINUTE": "100000",
    }
    out: dict = {"runner": args.runner, "clients": args.clients, "jobs_per_client": args.jobs}
    with tempfile.TemporaryDirectory() as tmp_name, ray_cluster(args) as ray_env:
        base_env.update(ray_env)
        tmp = Path(tmp_name) / "one"
        tmp.mkdir()
        if not args.no_baseline:  # the same load on one server with its defaults, first
            db_url = f"sqlite:///{tmp / 'a' / 'voxforge.db'}"
            out["one_server"] = measure(tmp, base_env, ["a"], db_url, args, args.workers * 2)
            out["one_server"]["database"] = "sqlite"
        tmp = Path(tmp_name) / "two"
        tmp.mkdir()
        with (
            postgres(args.database == "postgresql") as pg_url,
            redis_server(tmp / "redis") as redis_url,
            moto_s3(BUCKET) as s3_url,
        ):
            db_url = pg_url or f"sqlite:///{tmp / 'shared.db'}"
            env = {
                **base_env,
                **S3_ENV,
                "VOXFORGE_DATABASE_URL": db_url,
                "VOXFORGE_REDIS_URL": redis_url,
                "VOXFORGE_S3_BUCKET": BUCKET,
                "VOXFORGE_S3_ENDPOINT_URL": s3_url,
            }
            two = measure(tmp, env, ["a", "b"], db_url, args, args.workers)
            two["database"] = "postgresql" if pg_url else "sqlite"
            two["shared_state"] = "redis-server"
            two["object_store"] = "moto S3 server"
            two["redis_one_client"] = redis_round_trips(redis_url)
            out["two_servers"] = two
    return out


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2, help="Jobs per client, one after another.")
    ap.add_argument("--runner", default="process", help="process, thread (or ray, when installed).")
    ap.add_argument("--workers", type=int, default=1, help="Workers per server.")
    ap.add_argument("--poll", type=float, default=0.2, help="Seconds between status polls.")
    ap.add_argument(
        "--database", default="postgresql", choices=["postgresql", "sqlite"],
        help="What the two servers share (PostgreSQL falls back to SQLite when not installed).",
    )  # fmt: skip
    ap.add_argument("--no-baseline", action="store_true", help="Skip the one-server run.")
    args = ap.parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=2))
    for part in ("one_server", "two_servers"):
        r = result.get(part)
        if r and (r["lost"] or r["failed"] or r["rejected"] or r["downloads_bad"]):
            raise SystemExit(f"{part}: jobs lost, failed or rejected, or a download was wrong")
    return result


if __name__ == "__main__":
    figures()
