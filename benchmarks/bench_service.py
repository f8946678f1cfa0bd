"""The REST service under load: concurrent clients submit brickify jobs and poll them to the end.

A real server (uvicorn on a free local port, process-pool runner, SQLite in a temporary data
dir) and ``--clients`` threads, each with its own API key, each submitting ``--jobs`` jobs (a
6 x 4 x 4 cm box at 8 studs, seeded) one after another and polling ``GET /v1/jobs/{id}`` every
``--poll`` seconds until the job is terminal. Reported: jobs submitted / succeeded / failed /
lost (never terminal), wall time, throughput (succeeded jobs per second), and the latency of the
status polls (p50, p95, max, in ms), plus the submit latency.

Usage: ``.venv/bin/python benchmarks/bench_service.py [--clients 20] [--jobs 2] [--workers 2]``

``--soak 10m`` runs the server as a real ``voxforge serve`` process instead, for that long:
``--clients`` clients submit and poll in a loop, one more client keeps opening 100 event streams
(the per-key cap refuses most), the server is killed with SIGKILL half way and started again on
the same data dir, then every acknowledged job is waited for. Reported: jobs acknowledged /
succeeded / failed / lost (never terminal) / duplicated (more than one terminal event), worker
processes left alive after the kill (orphans), bytes left in temporary folders, status-poll
latency of the polling clients (p50/p95, outside the restart window), stream opens accepted /
refused, and 200 concurrent GETs of one finished job (p50/p95).
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


def box_stl() -> bytes:
    import trimesh

    buf = io.BytesIO()
    trimesh.creation.box(extents=[0.06, 0.04, 0.04]).export(buf, file_type="stl")
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


JOB_PARAMS = json.dumps(
    {"pipeline": "brickify", "width_studs": 8, "preview_size": 128, "classify": False}
)
"""A small brickify job: an 8-stud box, a small preview, no classifier."""


def submit_and_poll(submit: Any, poll_at: Any, stl: bytes, poll: float, out: dict) -> dict | None:
    """Submit one job through the client ``submit``, poll it through ``poll_at`` to its end and
    record the latencies and outcome in ``out``; the final job, or None when it was refused."""
    t0 = time.perf_counter()
    r = submit.post("/v1/jobs", files={"file": ("box.stl", stl)}, data={"params": JOB_PARAMS})
    out["submit_ms"].append((time.perf_counter() - t0) * 1000)
    if r.status_code != 202:
        out["rejected"].append(r.status_code)
        return None
    job_id = r.json()["id"]
    out["ids"].append(job_id)
    deadline = time.monotonic() + 600
    job: dict = {}
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        job = poll_at.get(f"/v1/jobs/{job_id}").json()
        out["poll_ms"].append((time.perf_counter() - t0) * 1000)
        if job["status"] in ("succeeded", "failed"):
            out[job["status"]].append(job_id)
            break
        time.sleep(poll)
    return job


def client_loop(base: str, key: str, n_jobs: int, poll: float, stl: bytes, out: dict) -> None:
    """Submit ``n_jobs`` jobs one after another, polling each to the end; record latencies."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
        for _ in range(n_jobs):
            submit_and_poll(c, c, stl, poll, out)


def run(clients: int, jobs: int, workers: int, poll: float, runner: str = "process") -> dict:
    import uvicorn

    from voxforge.service.app import create_app
    from voxforge.service.auth import create_user
    from voxforge.service.settings import ServiceSettings

    with tempfile.TemporaryDirectory() as tmp:
        settings = ServiceSettings(
            data_dir=Path(tmp),
            workers=workers,
            jobs_per_minute=1000,
            requests_per_minute=100_000,
            runner=runner,
        )
        app = create_app(settings)
        keys = [create_user(app.state.voxforge.db, f"client{i}")[1] for i in range(clients)]
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        stl = box_stl()
        # one job first so worker start-up (imports, numba compilation) is not in the timing
        warm: dict = {k: [] for k in ("submit_ms", "poll_ms", "ids", "succeeded", "failed", "rejected")}
        client_loop(base, keys[0], workers, 0.05, stl, warm)

        results = [
            {k: [] for k in ("submit_ms", "poll_ms", "ids", "succeeded", "failed", "rejected")}
            for _ in range(clients)
        ]
        threads = [
            threading.Thread(target=client_loop, args=(base, keys[i], jobs, poll, stl, results[i]))
            for i in range(clients)
        ]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        server.should_exit = True
        thread.join(30)

    merged = {k: [v for r in results for v in r[k]] for k in results[0]}
    polls = np.asarray(merged["poll_ms"])
    submits = np.asarray(merged["submit_ms"])
    submitted = len(merged["ids"])
    terminal = len(merged["succeeded"]) + len(merged["failed"])
    return {
        "clients": clients,
        "runner": runner,
        "jobs_per_client": jobs,
        "workers": workers,
        "submitted": submitted,
        "succeeded": len(merged["succeeded"]),
        "failed": len(merged["failed"]),
        "rejected": len(merged["rejected"]),
        "lost": submitted - terminal,
        "wall_s": round(wall, 2),
        "throughput_jobs_per_s": round(len(merged["succeeded"]) / wall, 3),
        "polls": int(polls.size),
        "poll_ms_p50": round(float(np.percentile(polls, 50)), 1),
        "poll_ms_p95": round(float(np.percentile(polls, 95)), 1),
        "poll_ms_max": round(float(polls.max()), 1),
        "submit_ms_p50": round(float(np.percentile(submits, 50)), 1),
        "submit_ms_p95": round(float(np.percentile(submits, 95)), 1),
    }


# --------------------------------------------------------------------------- soak


def parse_duration(text: str) -> float:
    """``10m``, ``90s``, ``1h`` or plain seconds -> seconds."""
    scale = {"s": 1, "m": 60, "h": 3600}
    if text and text[-1] in scale:
        return float(text[:-1]) * scale[text[-1]]
    return float(text)


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Server:
    """``voxforge serve`` as a child process on a fixed port and data dir."""

    def __init__(self, data: Path, port: int, workers: int) -> None:
        import os
        import sys

        self.data, self.port, self.workers = data, port, workers
        self.env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "VOXFORGE_JOBS_PER_MINUTE": "100000",
            "VOXFORGE_REQUESTS_PER_MINUTE": "1000000",
        }
        self.cmd = [sys.executable, "-m", "voxforge", "serve", "--port", str(port)]
        self.cmd += ["--data-dir", str(data), "--workers", str(workers)]
        self.proc: Any = None
        self.workers_seen: set[int] = set()

    def start(self) -> None:
        import subprocess

        import httpx

        self.proc = subprocess.Popen(
            self.cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        end = time.monotonic() + 120
        while time.monotonic() < end:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise SystemExit("server did not start")
        self.note_workers()

    def note_workers(self) -> None:
        if self.proc is not None:
            self.workers_seen.update(children(self.proc.pid))

    def kill(self) -> None:
        self.note_workers()
        self.proc.kill()
        self.proc.wait(30)

    def stop(self) -> None:
        self.note_workers()
        self.proc.terminate()
        self.proc.wait(60)


def soak_client(base: str, key: str, stl: bytes, stop: threading.Event, out: dict) -> None:
    """Submit a job, poll it to the end, repeat until ``stop``; survive server restarts."""
    import httpx

    params = json.dumps(
        {"pipeline": "brickify", "width_studs": 6, "preview_size": 96, "classify": False}
    )
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
        while not stop.is_set():
            try:
                r = c.post("/v1/jobs", files={"file": ("box.stl", stl)}, data={"params": params})
            except httpx.HTTPError:
                out["submit_errors"] += 1
                time.sleep(0.5)
                continue
            if r.status_code != 202:
                out["rejected"].append(r.status_code)
                time.sleep(0.5)
                continue
            job_id = r.json()["id"]
            out["ids"].append(job_id)
            _poll_until_done(c, job_id, out, deadline=time.monotonic() + 900)


def _poll_until_done(c: Any, job_id: str, out: dict, deadline: float) -> None:
    import httpx

    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        try:
            job = c.get(f"/v1/jobs/{job_id}").json()
        except (httpx.HTTPError, ValueError):
            out["poll_errors"] += 1
            time.sleep(0.5)
            continue
        out["poll_ms"].append(((time.perf_counter() - t0) * 1000, time.monotonic()))
        if job["status"] in ("succeeded", "failed"):
            out[job["status"]].append(job_id)
            return
        time.sleep(0.2)


def stream_client(base: str, key: str, stl: bytes, stop: threading.Event, out: dict) -> None:
    """Keep 100 event streams of one job open (re-opening them), counting accepted / refused."""
    import asyncio

    import httpx

    async def one(ac: httpx.AsyncClient, job_id: str) -> None:
        try:
            async with ac.stream("GET", f"/v1/jobs/{job_id}/events") as r:
                out["streams_" + ("accepted" if r.status_code == 200 else str(r.status_code))] += 1
                if r.status_code == 200:
                    async for _ in r.aiter_lines():
                        if stop.is_set():
                            return
        except httpx.HTTPError:
            out["stream_errors"] += 1

    async def main() -> None:
        headers = {"Authorization": f"Bearer {key}"}
        params = json.dumps({"pipeline": "brickify", "width_studs": 24, "classify": False})
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=None) as ac:
            while not stop.is_set():
                try:
                    r = await ac.post(
                        "/v1/jobs", files={"file": ("box.stl", stl)}, data={"params": params}
                    )
                    job_id = r.json()["id"]
                    out["ids"].append(job_id)
                except (httpx.HTTPError, ValueError, KeyError):
                    await asyncio.sleep(1)
                    continue
                await asyncio.gather(*(one(ac, job_id) for _ in range(100)))
                await asyncio.sleep(0.5)

    asyncio.run(main())


def burst(base: str, key: str, job_id: str, n: int = 200) -> list[float]:
    """``n`` concurrent GETs of one job; their latencies in ms."""
    import httpx

    times: list[float] = []
    gate = threading.Barrier(n)

    def get() -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as c:
            gate.wait()
            t0 = time.perf_counter()
            r = c.get(f"/v1/jobs/{job_id}", timeout=60)
            if r.status_code == 200:
                times.append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=get) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times


def leftover_bytes(data: Path) -> int:
    """Bytes in job scratch folders and half-written outputs, and system-temp capture folders."""
    import tempfile as tf

    roots = [p for p in (data / "jobs").glob("*/*") if p.name == "tmp" or ".output.tmp-" in p.name]
    roots += list(Path(tf.gettempdir()).glob("voxforge-capture-*"))
    return sum(f.stat().st_size for r in roots for f in [r, *r.rglob("*")] if f.is_file())


def soak(seconds: float, clients: int, workers: int) -> dict:
    import sqlite3

    from voxforge.service.auth import create_user
    from voxforge.service.db import Database

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        db = Database(f"sqlite:///{data / 'voxforge.db'}")
        db.create_all()
        keys = [create_user(db, f"client{i}")[1] for i in range(clients + 1)]
        db.dispose()
        server = Server(data, free_port(), workers)
        server.start()
        base = f"http://127.0.0.1:{server.port}"
        stl = box_stl()
        stop = threading.Event()
        blank = {"ids": [], "succeeded": [], "failed": [], "rejected": [], "poll_ms": []}
        results = [{**{k: [] for k in blank}, "submit_errors": 0, "poll_errors": 0} for _ in keys]
        streams: dict = {"ids": [], "stream_errors": 0}
        streams = collections.defaultdict(int, streams)
        threads = [
            threading.Thread(target=soak_client, args=(base, keys[i], stl, stop, results[i]))
            for i in range(clients)
        ]
        threads.append(threading.Thread(target=stream_client, args=(base, keys[-1], stl, stop, streams)))
        t0 = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(seconds / 2)
        old_workers = children(server.proc.pid)
        kill_at = time.monotonic()
        server.kill()
        time.sleep(5)
        orphans = [p for p in old_workers if alive(p)]
        server.start()
        restarted_at = time.monotonic()
        time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
        stop.set()
        for t in threads:
            t.join(900)
        wall = time.monotonic() - t0
        merged = {k: [v for r in results for v in r[k]] for k in blank}
        mine = results[0]["succeeded"]  # the burst reads a job of the key it uses
        burst_ms = np.asarray(burst(base, keys[0], mine[-1]) if mine else [])
        server.stop()
        orphans += [p for p in server.workers_seen if alive(p)]
        leftovers = leftover_bytes(data)
        con = sqlite3.connect(data / "voxforge.db")
        terminal_events = dict(
            con.execute(
                "SELECT job_id, COUNT(*) FROM events WHERE kind IN ('succeeded', 'failed') "
                "GROUP BY job_id"
            ).fetchall()
        )
        statuses = dict(con.execute("SELECT id, status FROM jobs").fetchall())
        con.close()

    acked = merged["ids"]
    steady = np.asarray(
        [ms for ms, at in merged["poll_ms"] if not (kill_at - 1 <= at <= restarted_at + 5)]
    )
    lost = [i for i in acked if statuses.get(i) not in ("succeeded", "failed")]
    return {
        "seconds": round(wall, 1),
        "clients": clients,
        "workers": workers,
        "jobs_acknowledged": len(acked),
        "succeeded": sum(statuses.get(i) == "succeeded" for i in acked),
        "failed": sum(statuses.get(i) == "failed" for i in acked),
        "lost": len(lost),
        "duplicated": sum(n > 1 for n in terminal_events.values()),
        "jobs_not_acknowledged": len(set(statuses) - set(acked) - set(streams["ids"])),
        "orphan_processes": len(orphans),
        "leftover_temp_bytes": leftovers,
        "restart_s": round(restarted_at - kill_at, 1),
        "polls_steady": int(steady.size),
        "poll_ms_p50": round(float(np.percentile(steady, 50)), 1) if steady.size else None,
        "poll_ms_p95": round(float(np.percentile(steady, 95)), 1) if steady.size else None,
        "submit_errors": sum(r["submit_errors"] for r in results),
        "poll_errors": sum(r["poll_errors"] for r in results),
        "streams_accepted": streams["streams_accepted"],
        "streams_refused_429": streams["streams_429"],
        "burst_200_get_ok": int(burst_ms.size),
        "burst_200_get_ms_p50": round(float(np.percentile(burst_ms, 50)), 1) if burst_ms.size else None,
        "burst_200_get_ms_p95": round(float(np.percentile(burst_ms, 95)), 1) if burst_ms.size else None,
    }


RUNS = {"service": [], "service_ray": ["--runner", "ray"]}
QUICK = {"service": ["--clients", "5", "--jobs", "1"]}
TARGETS = {
    "service": {"poll_ms_p95": "< 100 ms (#20)", "lost": "0 (#20)"},
    "service_ray": {"poll_ms_p95": "< 100 ms (#25)", "lost": "0 (#25)"},
}
ABOUT = {
    "service_ray": "The REST service under load with the Ray runner: jobs as Ray tasks\n\n"
    "As the `service` benchmark (a uvicorn server, 20 clients with 2 brickify jobs each, status "
    "polls every 0.2 s), with `runner: ray`: each job is a task on a local Ray of 2 CPUs started "
    "by the server, its progress coming back through a queue actor.",
}


def figures(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line ``argv``; print the figures and return them."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2, help="Jobs per client, one after another.")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runner", choices=("process", "ray"), default="process")
    ap.add_argument("--poll", type=float, default=0.2, help="Seconds between status polls.")
    ap.add_argument("--soak", default=None, help="Soak for this long (10m, 120s): see the docstring.")
    args = ap.parse_args(argv)
    if args.soak:
        result = soak(parse_duration(args.soak), args.clients, args.workers)
        print(json.dumps(result, indent=2))
        bad = ("lost", "duplicated", "orphan_processes", "leftover_temp_bytes")
        if any(result[k] for k in bad):
            raise SystemExit("soak: " + ", ".join(f"{k}={result[k]}" for k in bad))
        return result
    result = run(args.clients, args.jobs, args.workers, args.poll, args.runner)
    print(json.dumps(result, indent=2))
    if result["lost"] or result["failed"] or result["rejected"]:
        raise SystemExit("some jobs were lost, failed or rejected")
    return result


def main() -> None:
    figures()


if __name__ == "__main__":
    main()
