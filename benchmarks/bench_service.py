"""The REST service under load: concurrent clients submit brickify jobs and poll them to the end.

A real server (uvicorn on a free local port, process-pool runner, SQLite in a temporary data
dir) and ``--clients`` threads, each with its own API key, each submitting ``--jobs`` jobs (a
6 x 4 x 4 cm box at 8 studs, seeded) one after another and polling ``GET /v1/jobs/{id}`` every
``--poll`` seconds until the job is terminal. Reported: jobs submitted / succeeded / failed /
lost (never terminal), wall time, throughput (succeeded jobs per second), and the latency of the
status polls (p50, p95, max, in ms), plus the submit latency.

Usage: ``.venv/bin/python benchmarks/bench_service.py [--clients 20] [--jobs 2] [--workers 2]``
"""

from __future__ import annotations

import argparse
import io
import json
import socket
import tempfile
import threading
import time
from pathlib import Path

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


def client_loop(base: str, key: str, n_jobs: int, poll: float, stl: bytes, out: dict) -> None:
    """Submit ``n_jobs`` jobs one after another, polling each to the end; record latencies."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    params = json.dumps(
        {"pipeline": "brickify", "width_studs": 8, "preview_size": 128, "classify": False}
    )
    with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
        for _ in range(n_jobs):
            t0 = time.perf_counter()
            r = c.post("/v1/jobs", files={"file": ("box.stl", stl)}, data={"params": params})
            out["submit_ms"].append((time.perf_counter() - t0) * 1000)
            if r.status_code != 202:
                out["rejected"].append(r.status_code)
                continue
            job_id = r.json()["id"]
            out["ids"].append(job_id)
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                job = c.get(f"/v1/jobs/{job_id}").json()
                out["poll_ms"].append((time.perf_counter() - t0) * 1000)
                if job["status"] in ("succeeded", "failed"):
                    out[job["status"]].append(job_id)
                    break
                time.sleep(poll)


def run(clients: int, jobs: int, workers: int, poll: float) -> dict:
    import uvicorn

    from voxforge.service.app import create_app
    from voxforge.service.auth import create_user
    from voxforge.service.settings import ServiceSettings

    with tempfile.TemporaryDirectory() as tmp:
        settings = ServiceSettings(
            data_dir=Path(tmp), workers=workers, jobs_per_minute=1000, requests_per_minute=100_000
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2, help="Jobs per client, one after another.")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--poll", type=float, default=0.2, help="Seconds between status polls.")
    args = ap.parse_args()
    result = run(args.clients, args.jobs, args.workers, args.poll)
    print(json.dumps(result, indent=2))
    if result["lost"] or result["failed"] or result["rejected"]:
        raise SystemExit("some jobs were lost, failed or rejected")


if __name__ == "__main__":
    main()
