"""``voxforge batch`` of ModelNet10 shapes with booklets: sequential, and Ray with 1 and 2 workers.

N shapes of ``../shared/data/modelnet10_vox30_train.npz`` (seeded pick, written as ``.npy``
voxel files) go through ``voxforge batch --pipeline brickify`` with the default booklets (PDF,
HTML, step pictures) at ``--width`` studs, three ways, each a fresh ``voxforge`` process: ``--runner
local`` (one after another in the process), Ray with 1 worker and Ray with 2 workers. Reported
per way: wall time (with Ray's start), shapes per minute, the items' own seconds summed, and the
scheduling overhead per task = (wall - Ray start - summed item seconds / workers) / N, which
holds Ray's start-up of worker processes and their first imports. The overhead of the runner
itself is measured with trivial tasks (a task that returns at once): ``--trivial`` tasks through
each executor after a warm-up, wall / tasks. The machine is shared, so the load average is
recorded before and after.

Usage: ``python benchmarks/bench_batch.py [--shapes 100] [--width 16] [--trivial 500]``

``--cluster`` runs the node-loss check instead: a head and a second node on this machine
(``ray start --head`` / ``ray start --address``, 1 CPU each, a custom resource each), a batch of
``--shapes`` shapes joined to it by ``--address``; once the second node has started a few items
it is killed (SIGKILL to its process group). Reported: items, succeeded, lost (not succeeded),
items that ran more than once, and of those how many had first run on the killed node (all of
them should) or on the head (none should).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = Path(os.environ.get("VOXFORGE_SHARED_DATA", ROOT.parent / "shared" / "data"))

RUNS = {"batch": [], "batch_cluster": ["--cluster"]}
QUICK = {
    "batch": ["--shapes", "6", "--trivial", "100"],
    "batch_cluster": ["--cluster", "--shapes", "12"],
}
TARGETS = {
    "batch": {"trivial.ray_2.overhead_ms": "< 50 ms per task (#25)"},
    "batch_cluster": {
        "lost": "0 (#25)",
        "rerun_first_on_head": "0: only the killed node's items re-run (#25)",
    },
}
ABOUT = {
    "batch_cluster": "A simulated two-node Ray cluster on one machine loses a node mid-batch\n\n"
    "A head and a second node started with `ray start` (1 CPU and a custom resource each) run a "
    "`voxforge batch --address` of ModelNet10 shapes (20 studs, no booklets); the second node is "
    "killed with SIGKILL once it has started a few items. Counted: items lost (not succeeded), "
    "items run more than once, and where those had first run.",
}


def write_shapes(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` ModelNet10 training shapes (seeded pick) as ``CLASS_INDEX.npy`` occupancy files."""
    data = np.load(DATA / "modelnet10_vox30_train.npz")
    voxels, labels, classes = data["voxels"], data["labels"], data["classes"]
    pick = np.sort(np.random.default_rng(seed).choice(len(voxels), n, replace=False))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in pick:
        path = folder / f"{classes[labels[i]]}_{i:04d}.npy"
        np.save(path, voxels[i].astype(bool))
        paths.append(path)
    return paths


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    return {**env, **(extra or {})}


def run_cli(args: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """``python -m voxforge ARGS``: (wall seconds, exit code, stderr tail)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "voxforge", *args],
        env=env or _env(),
        capture_output=True,
        text=True,
        check=False,
    )
    return time.perf_counter() - t0, proc.returncode, (proc.stderr or "")[-800:]


def read_records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (out / "batch.jsonl").read_text().splitlines() if x.strip()]


def ray_start_s(workers: int) -> float:
    """Seconds to start and stop a local Ray of ``workers`` CPUs as the batch does."""
    code = (
        "import time; t=time.perf_counter(); from voxforge.batch.cluster import ray_session\n"
        f"with ray_session(None, {workers}) as r: print(time.perf_counter()-t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def trivial_task(input_path: Any, out_dir: Any, config: Any, progress: Any) -> dict[str, Any]:
    """A task that does nothing: what is left of its time is the runner's."""
    return {}


def trivial(n: int, workers: int | None) -> float:
    """Milliseconds per trivial task through the local executor (``workers`` None) or a local
    Ray of ``workers`` CPUs, after a warm-up that starts every worker."""
    from voxforge.batch.run import LocalExecutor, RayExecutor, Task

    marks = Path(tempfile.mkdtemp(prefix="vf-trivial-"))

    def tasks(k: int) -> list[Task]:
        return [Task(f"t{i}", trivial_task, None, marks / f"t{i}", None, marks / ".m") for i in range(k)]

    if workers is None:
        ex: Any = LocalExecutor()
        ex.run(tasks(10), lambda r: None)
        t0 = time.perf_counter()
        ex.run(tasks(n), lambda r: None)
        return (time.perf_counter() - t0) / n * 1000
    from voxforge.batch.cluster import ray_session

    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT / "src")])  # workers import us
    with ray_session(None, workers):
        ex = RayExecutor(workers=workers)
        ex.run(tasks(4 * workers), lambda r: None)
        t0 = time.perf_counter()
        ex.run(tasks(n), lambda r: None)
        return (time.perf_counter() - t0) / n * 1000


def throughput(shapes: int, width: int, n_trivial: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"shapes": shapes, "width_studs": width, "booklets": "pdf,html,steps"}
    with tempfile.TemporaryDirectory(prefix="vf-bench-batch-") as tmp:
        folder = Path(tmp) / "in"
        write_shapes(folder, shapes)
        figures["load_before"] = [round(v, 2) for v in os.getloadavg()]
        ways = {"local": ["--runner", "local"], "ray_1": ["--workers", "1"], "ray_2": ["--workers", "2"]}
        starts = {"ray_1": ray_start_s(1), "ray_2": ray_start_s(2)}
        for way, flags in ways.items():
            out = Path(tmp) / way
            wall, code, _ = run_cli(
                ["batch", str(folder), "-o", str(out), "--width-studs", str(width), "-q", *flags]
            )
            recs = read_records(out)
            ok = [r for r in recs if r["status"] == "succeeded"]
            busy = sum(r.get("seconds") or 0 for r in recs)
            workers = 1 if way != "ray_2" else 2
            start = starts.get(way, 0.0)
            figures[way] = {
                "wall_s": round(wall, 1),
                "exit_code": code,
                "succeeded": len(ok),
                "failed": len(recs) - len(ok),
                "failed_errors": sorted(
                    {r["error"].replace(f"{tmp}/", "") for r in recs if r["status"] == "failed"}
                ),
                "shapes_per_min": round(len(recs) / wall * 60, 2),
                "item_s_sum": round(busy, 1),
                "item_s_median": round(float(np.median([r["seconds"] for r in ok])), 2) if ok else None,
                "ray_start_s": round(start, 2) if way != "local" else None,
                "overhead_per_task_ms": round((wall - start - busy / workers) / len(recs) * 1000, 1),
                "parts_total": sum(r["counts"].get("parts", 0) for r in ok),
                "peak_rss_mb_max": max((r.get("peak_rss_mb") or 0) for r in recs),
            }
            print(way, json.dumps(figures[way]))
        local, two = figures["local"], figures["ray_2"]
        figures["speedup_ray_2_vs_local"] = round(local["wall_s"] / two["wall_s"], 2)
        figures["trivial"] = {"tasks": n_trivial}
        for way, workers in (("local", None), ("ray_1", 1), ("ray_2", 2)):
            figures["trivial"][way] = {"overhead_ms": round(trivial(n_trivial, workers), 2)}
        print("trivial", json.dumps(figures["trivial"]))
        figures["load_after"] = [round(v, 2) for v in os.getloadavg()]
    return figures


def cluster(shapes: int, kill_after: int = 2, width: int = 20) -> dict[str, Any]:
    """The node-loss run (see the module docstring)."""
    from voxforge.batch.cluster import LocalCluster

    figures: dict[str, Any] = {"shapes": shapes, "width_studs": width, "booklets": "none"}
    with tempfile.TemporaryDirectory(prefix="vf-bench-cluster-") as tmp:
        folder, out = Path(tmp) / "in", Path(tmp) / "out"
        write_shapes(folder, shapes, seed=1)
        figures["load_before"] = [round(v, 2) for v in os.getloadavg()]
        t0 = time.perf_counter()
        with LocalCluster((1, 1)) as c:
            figures["cluster_start_s"] = round(time.perf_counter() - t0, 1)
            env = _env(c.driver_env())
            head = _head_id(c)
            args = [
                sys.executable,
                "-m",
                "voxforge",
                "batch",
                str(folder),
                "-o",
                str(out),
                "--address",
                c.address,
                "--width-studs",
                str(width),
                "--set",
                "instructions=none",
                "-q",
            ]
            t1 = time.perf_counter()
            proc = subprocess.Popen(
                args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            node2, killed_at = _kill_when_busy(c, head, out, kill_after, proc)
            _, stderr = proc.communicate(timeout=900)
            figures["batch_wall_s"] = round(time.perf_counter() - t1, 1)
            figures["killed_after_s"] = killed_at
            figures["killed"] = killed_at >= 0
        recs = read_records(out)
        by_first = {r["name"]: (r.get("nodes") or [None])[0] for r in recs}
        rerun = [r for r in recs if (r.get("attempts") or 0) > 1]
        figures.update(
            items=len(recs),
            succeeded=sum(r["status"] == "succeeded" for r in recs),
            lost=shapes - sum(r["status"] == "succeeded" for r in recs),
            folders_complete=sum((out / r["name"] / "manifest.json").is_file() for r in recs),
            ran_on_killed_node=sum(node2 in (r.get("nodes") or []) for r in recs),
            finished_on_killed_node=sum(r.get("node") == node2 for r in recs),
            rerun=len(rerun),
            rerun_first_on_killed_node=sum(by_first[r["name"]] == node2 for r in rerun),
            rerun_first_on_head=sum(by_first[r["name"]] != node2 for r in rerun),
            items_per_node={
                n: sum(r.get("node") == n for r in recs) for n in {r.get("node") for r in recs}
            },
            exit_code=proc.returncode,
            stderr_tail=stderr[-300:] if proc.returncode else "",
            load_after=[round(v, 2) for v in os.getloadavg()],
        )
    print(json.dumps(figures, indent=1))
    return figures


def _kill_when_busy(c: Any, head: str, out: Path, kill_after: int, proc: Any) -> tuple[str, float]:
    """Wait until the second node has started ``kill_after`` items, then kill it; its node id."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 600:
        if proc.poll() is not None:
            return "", -1.0  # the batch ended before the second node started enough items
        marks = sorted(out.glob(".batch-*/*"))
        nodes = [json.loads(m.read_text())["node"] for m in marks if m.stat().st_size]
        theirs = [n for n in nodes if n != head]
        if len(theirs) >= kill_after:
            c.kill(1)
            return theirs[0], round(time.perf_counter() - t0, 1)
        time.sleep(0.1)
    raise RuntimeError("the second node never started enough items")


def _head_id(c: Any) -> str:
    code = (
        "import ray; ray.init(address=%r, logging_level='error', log_to_driver=False);"
        "print([n['NodeID'] for n in ray.nodes() if 'head' in n['Resources']][0])".replace(
            "%r", repr(c.address)
        )
    )
    env = _env(c.driver_env())
    return (
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()[-1]
    )


def figures(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", type=int, default=None)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--trivial", type=int, default=500)
    ap.add_argument("--cluster", action="store_true")
    args = ap.parse_args(argv)
    if args.cluster:
        return cluster(args.shapes or 24)
    return throughput(args.shapes or 100, args.width, args.trivial)


if __name__ == "__main__":
    print(json.dumps(figures(sys.argv[1:]), indent=1))
