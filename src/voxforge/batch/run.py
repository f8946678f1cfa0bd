"""Running a batch: items as tasks (in this process, or as Ray tasks), and ``batch.jsonl``.

A task is a picklable :class:`Task`; :func:`run_task` runs it anywhere (this process, a Ray
worker on any node) and returns one JSON-safe record: status, timings, counts, the one-line
error, where it ran. A failing item fails alone: its error is caught in :func:`run_task` and the
batch goes on. Each item's folder is written through ``OutputDir`` by its pipeline, so it appears
only when complete; ``--resume`` skips items whose folder holds a ``manifest.json``.

Every attempt leaves a marker in ``OUT/.batch-<run>/`` (the node and process that started it), so
the report counts attempts: an item re-run after its node died shows ``attempts: 2``. OUT must be
on a file system every node sees (one machine, NFS, a mounted bucket).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from voxforge.batch.items import BatchItem
from voxforge.batch.pipelines import BatchPipeline, ItemRunner
from voxforge.core.errors import ConfigError, VoxforgeError
from voxforge.core.outputs import MANIFEST_NAME

REPORT_NAME = "batch.jsonl"
Status = Literal["succeeded", "failed", "skipped"]

MIB = 1 << 20
BASE_MEMORY = 1 << 30
"""What a long-lived worker holds besides its input's grid: Python, numpy, numba kernels, the
part catalogue, renderer and PDF buffers (Ray workers that brickified 40 16-stud ModelNet10
shapes with booklets each peaked at 0.9-1.0 GB resident)."""
BYTES_PER_CELL = 4096
"""Peak bytes per cell of the bounding grid (layout candidates, physics, pictures)."""
BYTES_PER_INPUT_BYTE = 8
"""Peak bytes per byte of the input file (a mesh or cloud expanded in memory)."""


@dataclass(frozen=True)
class Task:
    """One item as a worker runs it (picklable: ``run`` is a module-level function)."""

    name: str
    run: ItemRunner
    input: Path | None
    out_dir: Path
    config: Any
    marks: Path
    memory: int = 0


def estimate_memory(pipeline: BatchPipeline, item: BatchItem) -> int:
    """Bytes to ask the scheduler for: a base, plus the bounding grid's cells (from
    ``voxel.width_studs``: W x W studs by 2.5 W plates, at most ``voxel.max_cells``), plus the
    input file's size."""
    size = 0
    if item.input is not None and item.input.is_file():
        size = item.input.stat().st_size
    cells = 0
    voxel = getattr(item.config, "voxel", None)
    if pipeline.grid and voxel is not None:
        width = voxel.width_studs if voxel.scale == "fit" and voxel.width_studs else 64
        cells = min(int(2.5 * width**3), int(voxel.max_cells))
    return BASE_MEMORY + BYTES_PER_CELL * cells + BYTES_PER_INPUT_BYTE * size


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _where() -> dict[str, Any]:
    """The node and process running this task (Ray's node id inside a Ray worker)."""
    node = socket.gethostname()
    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            try:
                node = ray.get_runtime_context().get_node_id()
            except Exception:  # an old Ray without a runtime context: the host name stays
                pass
    return {"node": node, "pid": os.getpid()}


def _peak_rss_mb() -> float | None:
    try:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    except (ImportError, OSError):
        return None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:500] if text else type(err).__name__


def run_task(task: Task, progress: Callable[[str, float], None] | None = None) -> dict[str, Any]:
    """Run one item; never raises for the item's own failure. Returns its record."""
    where = _where()
    task.marks.mkdir(parents=True, exist_ok=True)
    mark = task.marks / f"{task.name}.{time.time_ns():020d}{uuid.uuid4().hex[:6]}"  # sorts by time
    mark.write_text(json.dumps(where))
    started, t0 = _now(), time.perf_counter()
    record: dict[str, Any] = {"name": task.name, "started": started, **where}
    try:
        counts = task.run(task.input, task.out_dir, task.config, progress or (lambda s, f: None))
        record.update(status="succeeded", counts=counts or {}, error=None)
    except VoxforgeError as err:
        record.update(status="failed", error=_first_line(err), error_type=type(err).__name__)
    except MemoryError:
        record.update(
            status="failed",
            error="out of memory; give it a smaller width_studs",
            error_type="MemoryError",
        )
    except Exception as err:  # a bug in a pipeline: this item fails, the batch goes on
        record.update(
            status="failed",
            error=f"internal error ({type(err).__name__}: {_first_line(err)})",
            error_type=type(err).__name__,
        )
    record.update(
        seconds=round(time.perf_counter() - t0, 3), finished=_now(), peak_rss_mb=_peak_rss_mb()
    )
    return record


# --------------------------------------------------------------------------- executors


Done = Callable[[dict[str, Any]], None]


class LocalExecutor:
    """Runs tasks one after another in this process (no Ray): the baseline and the fallback."""

    name = "local"

    def run(self, tasks: Sequence[Task], done: Done) -> None:
        for task in tasks:
            done(run_task(task))


@dataclass
class RayExecutor:
    """Runs tasks as Ray tasks: one CPU and the estimated memory each, retried when their worker
    or node dies (``max_retries``), never when the item itself fails (that is a result).

    Attributes:
        address: ``None`` starts a local Ray with ``workers`` CPUs; ``auto`` or
            ``ray://HOST:PORT`` (or ``HOST:PORT``) joins a running cluster.
        workers: CPUs of the local Ray (ignored when joining a cluster).
        max_retries: re-runs of a task whose worker process or node died.
        memory: ask each task's estimated memory of the scheduler (False: CPUs only).
    """

    address: str | None = None
    workers: int = 2
    max_retries: int = 2
    memory: bool = True
    name: str = field(default="ray", init=False)

    def run(self, tasks: Sequence[Task], done: Done) -> None:
        from voxforge.batch.cluster import ray_session

        with ray_session(self.address, self.workers) as ray:
            largest = _largest_node_memory(ray)
            remote = ray.remote(run_task)
            pending: dict[Any, Task] = {}
            for task in tasks:
                options: dict[str, Any] = {
                    "num_cpus": 1,
                    "max_retries": self.max_retries,
                    "retry_exceptions": False,
                    "name": f"voxforge-batch:{task.name}",
                }
                if self.memory and task.memory:
                    options["memory"] = min(task.memory, largest) if largest else task.memory
                pending[remote.options(**options).remote(task)] = task
            try:
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                    for ref in ready:
                        task = pending.pop(ref)
                        done(self._result(ray, ref, task))
            except BaseException:
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise

    def _result(self, ray: Any, ref: Any, task: Task) -> dict[str, Any]:
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as err:  # Ray could not run it (an unpicklable task)
            cause = err.cause if err.cause is not None else err
            error = f"Ray could not run the task ({type(cause).__name__}: {_first_line(cause)})"
            kind = type(cause).__name__
        except Exception as err:  # the worker or node died more than max_retries times
            kind = type(err).__name__
            error = f"its worker died {self.max_retries + 1} times ({kind}); not retried again"
        return {
            "name": task.name,
            "status": "failed",
            "error": error,
            "error_type": kind,
            "finished": _now(),
        }


def _largest_node_memory(ray: Any) -> int:
    """The memory resource of the largest live node (a task asking more could never run)."""
    try:
        sizes = [n["Resources"].get("memory", 0) for n in ray.nodes() if n.get("Alive")]
    except Exception:
        return 0
    return int(max(sizes, default=0))


# --------------------------------------------------------------------------- the batch


@dataclass
class BatchResult:
    """What a batch did: one record per item (the last ``batch.jsonl`` line of each)."""

    out: Path
    records: list[dict[str, Any]]
    seconds: float
    runner: str

    def count(self, status: Status) -> int:
        return sum(r["status"] == status for r in self.records)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == "failed"]

    def line(self) -> str:
        """``12 items: 10 succeeded, 1 failed, 1 skipped in 31.2 s (ray)``."""
        n = len(self.records)
        return (
            f"{n} item{'s' if n != 1 else ''}: {self.count('succeeded')} succeeded, "
            f"{self.count('failed')} failed, {self.count('skipped')} skipped in "
            f"{self.seconds:.1f} s ({self.runner})"
        )


def finished(out: Path, name: str) -> bool:
    """Whether item ``name`` of the batch in ``out`` is complete (its folder has a manifest)."""
    return (out / name / MANIFEST_NAME).is_file()


def check_out(out: Path) -> None:
    """Refuse an OUT that is a file, or a folder holding something other than a batch.

    Raises:
        ConfigError: naming OUT.
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder; choose another -o")
    if out.is_dir() and any(out.iterdir()) and not (out / REPORT_NAME).is_file():
        raise ConfigError(
            f"output folder {out} is not empty and holds no {REPORT_NAME}; choose another -o"
        )


def run_batch(
    pipeline: BatchPipeline,
    items: Sequence[BatchItem],
    out: Path,
    executor: LocalExecutor | RayExecutor,
    *,
    resume: bool = False,
    progress: Callable[[dict[str, Any], int, int], None] | None = None,
) -> BatchResult:
    """Run ``items`` into ``out/<name>/`` and write ``out/batch.jsonl`` (one line per item, in
    the order they finish; appended to with ``resume``).

    Raises:
        ConfigError: ``out`` is a file or a folder of something else.
    """
    out = Path(out)
    check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    marks = out / f".batch-{uuid.uuid4().hex[:8]}"
    t0 = time.perf_counter()
    records: dict[str, dict[str, Any]] = {}
    total = len(items)
    by_name = {item.name: item for item in items}
    report_path = out / REPORT_NAME
    with open(report_path, "a" if resume else "w", encoding="utf-8") as report:

        def done(record: dict[str, Any]) -> None:
            item = by_name[record["name"]]
            record = _complete(record, item, pipeline, marks)
            records[item.name] = record
            report.write(json.dumps(record, default=str) + "\n")
            report.flush()
            if progress is not None:
                progress(record, len(records), total)

        tasks = []
        for item in items:
            if resume and finished(out, item.name):
                done(
                    {
                        "name": item.name,
                        "status": "skipped",
                        "error": None,
                        "note": "finished in an earlier run",
                    }
                )
                continue
            tasks.append(
                Task(
                    item.name,
                    pipeline.run,
                    item.input,
                    out / item.name,
                    item.config,
                    marks,
                    estimate_memory(pipeline, item),
                )
            )
        try:
            executor.run(tasks, done)
        finally:
            shutil.rmtree(marks, ignore_errors=True)
    ordered = [records[i.name] for i in items if i.name in records]
    return BatchResult(out, ordered, time.perf_counter() - t0, executor.name)


def _complete(
    record: dict[str, Any], item: BatchItem, pipeline: BatchPipeline, marks: Path
) -> dict[str, Any]:
    """The report line: the worker's record with the item's input, options and attempts."""
    attempts = [json.loads(p.read_text()) for p in _marks(marks, item.name)]
    head = {
        "name": item.name,
        "status": record["status"],
        "pipeline": pipeline.name,
        "input": None if item.input is None else str(item.input),
        "source": item.source,
        "options": item.options,
    }
    if record["status"] != "skipped":
        head["attempts"] = len(attempts)
        head["nodes"] = [a["node"] for a in attempts]
        head["memory_mb"] = round(estimate_memory(pipeline, item) / MIB)
    return {**head, **{k: v for k, v in record.items() if k not in head}}


def _marks(marks: Path, name: str) -> Iterator[Path]:
    if not marks.is_dir():
        return iter(())
    return (p for p in sorted(marks.iterdir()) if p.name.rsplit(".", 1)[0] == name)


def read_report(out: Path) -> list[dict[str, Any]]:
    """The records of ``out/batch.jsonl``, the last line of each item winning."""
    path = Path(out) / REPORT_NAME
    last: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            last[rec["name"]] = rec
    return list(last.values())
