"""Jobs: the runner seam, two runners, and the service that keeps the job table true.

The database is the source of truth; a :class:`JobRunner` only executes :class:`JobSpec` s and
reports :class:`RunnerEvent` s (started, progress, succeeded, failed) through one callback, which
:class:`JobService` writes to the database. Any engine that can run a picklable spec and relay
those four events can replace the process pool (the distributed engine of a later issue).

* :class:`ProcessPoolRunner` (default): N worker processes (spawned, so the server's threads and
  locks are not forked); queued jobs wait in the server and go to an idle worker, so a queued job
  can be withdrawn and a running one ended by stopping its worker, which is then replaced. A
  worker that dies mid-job fails that job with the exit code.
* :class:`ThreadRunner`: jobs in threads of the server process (tests, debugging); a deleted job
  stops at its next progress report.

Restart: jobs ``running`` when the server stopped are queued again until they have been started
``max_attempts`` times, then failed with the reason; ``queued`` jobs are submitted again. A clean
shutdown requeues the jobs it interrupts without counting the attempt.

Workers are tied to the server: each watches its parent and exits when the server is gone; each
job runs in its job folder with ``TMPDIR`` in the job's scratch folder, removed however the job
ends (SIGTERM unwinds it; the server clears scratch and ``.output.tmp-*`` after a worker dies and
sweeps them at start). A reconciler retries terminal events the database refused and fails jobs
marked running that no worker holds; :class:`EventNotifier` wakes a job's event streams when one
of its events is stored.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing as mp
import os
import re
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from multiprocessing import connection as mp_connection
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel
from sqlalchemy import delete, select

from voxforge.core.errors import VoxforgeError
from voxforge.io.limits import ReadLimits, use_limits
from voxforge.service.db import TERMINAL, ArtifactRow, Database, EventRow, Job, utcnow
from voxforge.service.pipelines import PipelineSpec, Runner
from voxforge.service.storage import Storage

log = logging.getLogger(__name__)

EventKind = Literal["started", "progress", "succeeded", "failed"]

PROGRESS_STEP = 0.01
"""Progress reports closer than this (and within PROGRESS_SECONDS) are not sent on."""
PROGRESS_SECONDS = 0.5


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs to run one job; picklable (``run`` is a module-level function)."""

    job_id: str
    pipeline: str
    run: Runner
    config: BaseModel
    input_path: Path | None
    out_dir: Path
    limits: ReadLimits = field(default_factory=ReadLimits)
    scratch: Path | None = None


@dataclass(frozen=True)
class RunnerEvent:
    """What a runner reports about a job."""

    job_id: str
    kind: EventKind
    stage: str | None = None
    progress: float = 0.0
    error: str | None = None


Report = Callable[[RunnerEvent], None]


class JobRunner(Protocol):
    """The seam between the service and whatever executes jobs."""

    def start(self, report: Report) -> None:
        """Begin accepting jobs; every event goes to ``report`` (called from any thread)."""

    def submit(self, spec: JobSpec) -> None:
        """Queue a job; it runs when a worker is free."""

    def cancel(self, job_id: str) -> bool:
        """Withdraw a queued job or stop a running one; False when the runner does not hold it."""

    def shutdown(self) -> None:
        """Stop: queued jobs are dropped (the database still lists them), running ones end."""

    def held(self) -> set[str]:
        """Ids of the jobs queued in or running on this runner (the reconciler's view)."""

    def running(self) -> set[str]:
        """Ids of the jobs being executed now (a clean shutdown puts them back in the queue)."""


class JobCancelled(Exception):
    """Raised inside a job's progress callback when the job was deleted (thread runner)."""


def execute_job(spec: JobSpec, emit: Report, cancelled: Callable[[], bool] = lambda: False) -> None:
    """Run one job, reporting started, throttled progress, and exactly one terminal event.

    Errors of the voxforge family fail the job with their one-line message; anything else is
    reported as an internal error naming the exception type (the traceback goes to the log).
    """
    emit(RunnerEvent(spec.job_id, "started"))
    last = {"stage": None, "progress": 0.0, "time": 0.0}

    def progress(stage: str, fraction: float) -> None:
        if cancelled():
            raise JobCancelled(spec.job_id)
        fraction = max(float(fraction), float(last["progress"]))  # type: ignore[arg-type]
        now = time.monotonic()
        if (
            stage != last["stage"]
            or fraction - float(last["progress"]) >= PROGRESS_STEP  # type: ignore[arg-type]
            or now - float(last["time"]) >= PROGRESS_SECONDS  # type: ignore[arg-type]
        ):
            last.update(stage=stage, progress=fraction, time=now)
            emit(RunnerEvent(spec.job_id, "progress", stage, min(fraction, 1.0)))

    try:
        with use_limits(spec.limits):
            spec.run(spec.input_path, spec.out_dir, spec.config, progress)
    except JobCancelled:
        return
    except VoxforgeError as err:
        emit(RunnerEvent(spec.job_id, "failed", error=_first_line(err) or type(err).__name__))
        return
    except MemoryError:
        emit(RunnerEvent(spec.job_id, "failed", error="out of memory; try a smaller width_studs"))
        return
    except Exception as err:  # a bug in a pipeline: fail the job, keep the worker
        log.exception("job %s (%s) crashed", spec.job_id, spec.pipeline)
        emit(
            RunnerEvent(
                spec.job_id, "failed", error=f"internal error ({type(err).__name__}: {_first_line(err)})"
            )
        )
        return
    emit(RunnerEvent(spec.job_id, "succeeded", progress=1.0))


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:500] if text else ""


# --------------------------------------------------------------------------- thread runner


class ThreadRunner:
    """Jobs in a thread pool of the server process; cancellation is cooperative."""

    def __init__(self, workers: int = 2) -> None:
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._report: Report | None = None
        self._cancelled: set[str] = set()
        self._held: set[str] = set()
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def start(self, report: Report) -> None:
        self._report = report
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="voxforge-job")

    def submit(self, spec: JobSpec) -> None:
        assert self._pool is not None and self._report is not None, "runner not started"
        with self._lock:
            self._held.add(spec.job_id)
        self._pool.submit(self._run, spec)

    def _run(self, spec: JobSpec) -> None:
        try:
            if self._is_cancelled(spec.job_id):
                return
            assert self._report is not None
            with self._lock:
                self._running.add(spec.job_id)
            execute_job(spec, self._report, lambda: self._is_cancelled(spec.job_id))
        finally:
            with self._lock:
                self._held.discard(spec.job_id)
                self._running.discard(spec.job_id)

    def held(self) -> set[str]:
        """Ids of the jobs submitted here and not finished."""
        with self._lock:
            return set(self._held)

    def running(self) -> set[str]:
        """Ids of the jobs a thread is running now."""
        with self._lock:
            return set(self._running)

    def _is_cancelled(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._cancelled

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            self._cancelled.add(job_id)
        return True

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# --------------------------------------------------------------------------- process runner


WORKER_NICENESS = 10
"""Workers run at a lower CPU priority than the server, so status polls stay fast under load."""
PARENT_CHECK_S = 0.5
"""How often a worker looks whether the server that started it is still alive."""


def _watch_parent(parent_pid: int, interval: float = PARENT_CHECK_S) -> None:
    """Exit this process at once when the server is gone (it was killed: no one reaps us).

    Polling ``getppid`` works from any thread of the server; ``PR_SET_PDEATHSIG`` would fire
    when the *thread* that started the worker ends, which request threads do all the time.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(70)

    threading.Thread(target=watch, name="voxforge-parent-watch", daemon=True).start()


def _on_sigterm(_signum: int, _frame: Any) -> None:
    raise SystemExit(143)  # unwinds the job: ``finally`` blocks remove temporary folders


def _run_in_scratch(spec: JobSpec, emit: Report) -> None:
    """Run one job with TMPDIR in its scratch folder, which is removed however the job ends."""
    scratch = spec.scratch
    if scratch is None:
        execute_job(spec, emit)
        return
    scratch.mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(scratch)
    os.environ["TMPDIR"] = str(scratch)
    home = os.getcwd()
    job_dir = scratch.parent
    os.chdir(job_dir)  # the job sees relative paths: none of the server's folders in its outputs
    relative = replace(
        spec,
        input_path=None if spec.input_path is None else _relative(spec.input_path, job_dir),
        out_dir=_relative(spec.out_dir, job_dir),
    )
    try:
        execute_job(relative, emit)
    finally:
        os.chdir(home)
        tempfile.tempdir = None
        shutil.rmtree(scratch, ignore_errors=True)


def _relative(path: Path, base: Path) -> Path:
    return path.relative_to(base) if path.is_relative_to(base) else path


def _worker_main(tasks: Any, events: Any, parent_pid: int | None = None) -> None:
    """A worker process: run specs from ``tasks`` until None arrives, events into ``events``.

    ``events`` is this worker's own pipe: a worker that dies mid-write (``os._exit``, a segfault)
    breaks only its own pipe, where a queue shared by all workers could be left locked for the
    others.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when workers stop
    signal.signal(signal.SIGTERM, _on_sigterm)
    if parent_pid is not None:
        _watch_parent(parent_pid)
    try:
        os.nice(WORKER_NICENESS)  # jobs are batch work: the API answering polls goes first
    except OSError:
        pass
    for var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # N workers on N cores: no oversubscription
    send_lock = threading.Lock()  # progress may be reported from a job's own threads

    def emit(ev: RunnerEvent) -> None:
        with send_lock:
            events.send(ev)

    while True:
        spec = tasks.get()
        if spec is None:
            return
        _run_in_scratch(spec, emit)


@dataclass
class _Worker:
    process: Any
    tasks: Any
    events: Any  # the reading end of the worker's own event pipe
    job_id: str | None = None


class ProcessPoolRunner:
    """A pool of worker processes fed one job at a time from a queue kept in the server."""

    def __init__(self, workers: int = 2, start_method: str = "spawn") -> None:
        self.size = workers
        self._ctx = mp.get_context(start_method)
        self._workers: list[_Worker] = []
        self._pending: collections.deque[JobSpec] = collections.deque()
        self._reporting: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._report: Report | None = None

    def start(self, report: Report) -> None:
        self._report = report
        self._workers = [self._spawn(i) for i in range(self.size)]
        self._thread = threading.Thread(target=self._loop, name="voxforge-runner", daemon=True)
        self._thread.start()

    def _spawn(self, slot: int) -> _Worker:
        tasks = self._ctx.SimpleQueue()
        reader, writer = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=_worker_main,
            args=(tasks, writer, os.getpid()),
            name=f"voxforge-worker-{slot}",
            daemon=True,
        )
        proc.start()
        writer.close()  # the worker holds the only writing end: its death reads as EOF here
        return _Worker(proc, tasks, reader)

    def submit(self, spec: JobSpec) -> None:
        with self._lock:
            self._pending.append(spec)
            self._dispatch()

    def _dispatch(self) -> None:
        """Hand pending jobs to idle workers (caller holds the lock)."""
        for w in self._workers:
            if not self._pending:
                return
            if w.job_id is None and w.process.is_alive():
                spec = self._pending.popleft()
                w.job_id = spec.job_id
                w.tasks.put(spec)

    def held(self) -> set[str]:
        """Ids of the jobs queued here or running in a live worker."""
        with self._lock:
            ids = {spec.job_id for spec in self._pending} | self._reporting
            ids.update(w.job_id for w in self._workers if w.job_id is not None)
            return ids

    def running(self) -> set[str]:
        """Ids of the jobs a worker is running now."""
        with self._lock:
            return {w.job_id for w in self._workers if w.job_id is not None}

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            for spec in list(self._pending):
                if spec.job_id == job_id:
                    self._pending.remove(spec)
                    return True
            for i, w in enumerate(self._workers):
                if w.job_id == job_id:
                    self._stop_worker(w)
                    self._workers[i] = self._spawn(i)
                    self._dispatch()
                    return True
        return False

    @staticmethod
    def _stop_worker(w: _Worker) -> None:
        w.process.terminate()
        w.process.join(5)
        if w.process.is_alive():
            w.process.kill()
            w.process.join(5)

    def _loop(self) -> None:
        assert self._report is not None
        while not self._stop.is_set():
            with self._lock:
                pipes = [w.events for w in self._workers]
            try:
                ready = mp_connection.wait(pipes, timeout=0.2)
            except OSError:  # a pipe closed during shutdown
                return
            if not ready:
                self._reap()
                continue
            for pipe in ready:
                try:
                    ev: RunnerEvent = pipe.recv()
                except (EOFError, OSError):  # its worker died (or is stopping): replace it
                    time.sleep(0.01)
                    self._reap()
                    continue
                self._handle(ev)

    def _handle(self, ev: RunnerEvent) -> None:
        self._safe_report(ev)  # before the worker is freed: the job stays held until stored
        if ev.kind in ("succeeded", "failed"):
            with self._lock:
                for w in self._workers:
                    if w.job_id == ev.job_id:
                        w.job_id = None
                self._dispatch()

    def _reap(self) -> None:
        """Replace dead workers; the job one was running fails with the exit code."""
        lost: list[tuple[str, int | None]] = []
        with self._lock:
            for i, w in enumerate(self._workers):
                if self._stop.is_set() or w.process.is_alive():
                    continue
                if w.job_id is not None:
                    lost.append((w.job_id, w.process.exitcode))
                    self._reporting.add(w.job_id)  # still held until its failure is stored
                w.events.close()
                self._workers[i] = self._spawn(i)
            if lost or any(w.job_id is None for w in self._workers):
                self._dispatch()
        for job_id, code in lost:
            msg = f"worker process died (exit code {code}) while running the job"
            self._safe_report(RunnerEvent(job_id, "failed", error=msg))
            with self._lock:
                self._reporting.discard(job_id)

    def _safe_report(self, ev: RunnerEvent) -> None:
        assert self._report is not None
        try:
            self._report(ev)
        except Exception:  # a database hiccup must not kill the event loop
            log.exception("could not record %s event of job %s", ev.kind, ev.job_id)

    def shutdown(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)  # the event loop ends first: nothing is reported after this
        with self._lock:
            self._pending.clear()
            for w in self._workers:
                if w.job_id is None:
                    w.tasks.put(None)
        for w in self._workers:
            if w.job_id is None:
                w.process.join(2)
            if w.process.is_alive():
                self._stop_worker(w)
            w.events.close()


def make_runner(
    kind: str, workers: int, *, ray_address: str | None = None, max_attempts: int = 2
) -> JobRunner:
    """The runner named in the settings: ``process``, ``thread`` or ``ray`` (Ray tasks on a
    local Ray, or the cluster at ``ray_address``)."""
    if kind == "ray":
        from voxforge.service.ray_runner import RayRunner

        return RayRunner(workers, ray_address, max_attempts)
    return ProcessPoolRunner(workers) if kind == "process" else ThreadRunner(workers)


# --------------------------------------------------------------------------- the notifier


class EventNotifier:
    """Wakes the event streams of a job when this process stores one of its events.

    One per process: the job service calls :meth:`notify` (from any thread) after each stored
    event; each stream holds a :class:`Subscription` and reads the database only when woken
    (or after a fallback timeout, for events another server process wrote).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[str, set[Subscription]] = {}

    def subscribe(self, job_id: str) -> Subscription:
        """A subscription to ``job_id``'s events, bound to the running event loop."""
        import asyncio

        sub = Subscription(self, job_id, asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._subs.setdefault(job_id, set()).add(sub)
        return sub

    def _drop(self, sub: Subscription) -> None:
        with self._lock:
            subs = self._subs.get(sub.job_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[sub.job_id]

    def notify(self, job_id: str) -> None:
        """Wake every stream of ``job_id`` (thread-safe)."""
        with self._lock:
            subs = list(self._subs.get(job_id, ()))
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub.event.set)
            except RuntimeError:  # that loop is closed: the stream is gone
                self._drop(sub)

    def streams(self) -> int:
        """Open subscriptions, all jobs together."""
        with self._lock:
            return sum(len(s) for s in self._subs.values())


@dataclass(eq=False)
class Subscription:
    """One stream's wake-up flag; ``wait`` returns when notified or after ``timeout``."""

    notifier: EventNotifier
    job_id: str
    loop: Any
    event: Any

    def clear(self) -> None:
        """Forget earlier wake-ups; call before reading the database, then :meth:`wait`."""
        self.event.clear()

    async def wait(self, timeout: float) -> bool:
        """True when notified, False on timeout."""
        import asyncio

        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.notifier._drop(self)


# --------------------------------------------------------------------------- the service


class JobService:
    """Creates, runs, records and deletes jobs; the only writer of job state."""

    def __init__(
        self,
        db: Database,
        storage: Storage,
        runner: JobRunner,
        pipelines: Any,
        max_attempts: int = 2,
        limits: ReadLimits | None = None,
        reconcile_s: float = 2.0,
        shared: Any = None,
    ) -> None:
        from voxforge.service.shared import LocalShared

        self.db, self.storage, self.runner, self.pipelines = db, storage, runner, pipelines
        self.shared = shared or LocalShared()
        self.max_attempts = max_attempts
        self.limits = limits or ReadLimits()
        self.reconcile_s = reconcile_s
        self._unstored: collections.deque[RunnerEvent] = collections.deque()
        self._unstored_lock = threading.Lock()
        self._stopping = threading.Event()
        self._reconciler: threading.Thread | None = None
        self.notifier: EventNotifier = self.shared.notifier
        self.shared.on_cancel(self.runner.cancel)  # a DELETE answered by another server

    def start(self) -> None:
        """Sweep leftovers of dead workers, start the runner, requeue what an earlier server left
        queued or running, and start the reconciler."""
        self.storage.sweep(self.shared.held_elsewhere)
        self.runner.start(self.report_event)
        self.recover()
        self._stopping.clear()
        self._reconciler = threading.Thread(
            target=self._reconcile_loop, name="voxforge-reconciler", daemon=True
        )
        self._reconciler.start()

    def stop(self) -> None:
        """Stop the runner; jobs it was running go back to the queue without spending an attempt
        (a routine restart is not the job's fault)."""
        self._stopping.set()
        running = self.runner.running() if hasattr(self.runner, "running") else set()
        self.runner.shutdown()
        if self._reconciler is not None:
            self._reconciler.join(5)
        self._retry_unstored()
        try:
            self._requeue_interrupted(running)
        except Exception:  # the database is gone too: recover() counts the attempt instead
            log.exception("could not requeue the jobs running at shutdown")

    def _requeue_interrupted(self, job_ids: set[str]) -> None:
        if not job_ids:
            return
        with self.db.session() as s:
            for job in s.scalars(select(Job).where(Job.id.in_(job_ids), Job.status == "running")):
                self.storage.clear_partial(job.id)
                job.status, job.stage, job.progress = "queued", None, 0.0
                job.attempts = max(job.attempts - 1, 0)
                msg = "the server was shut down while the job was running; it starts again"
                s.add(EventRow(job_id=job.id, kind="queued", status="queued", message=msg))
        for job_id in job_ids:
            self.shared.release(job_id)  # another live server adopts it

    # ---- reconciler

    def report_event(self, ev: RunnerEvent) -> None:
        """The runner's callback: store ``ev``; a terminal event that cannot be stored now (the
        database is locked or down) is kept and retried until it is."""
        try:
            self.apply_event(ev)
        except Exception:
            log.exception("could not record %s event of job %s", ev.kind, ev.job_id)
            if ev.kind in TERMINAL:
                with self._unstored_lock:
                    self._unstored.append(ev)

    def _retry_unstored(self) -> None:
        with self._unstored_lock:
            waiting = list(self._unstored)
            self._unstored.clear()
        for i, ev in enumerate(waiting):
            try:
                self.apply_event(ev)
            except Exception:
                with self._unstored_lock:
                    self._unstored.extendleft(reversed(waiting[i:]))
                return

    def unstored(self) -> int:
        """How many terminal events wait to be stored."""
        with self._unstored_lock:
            return len(self._unstored)

    def reconcile(self) -> list[str]:
        """Store waiting terminal events, then fail jobs marked running that no worker holds
        (their worker is gone and its terminal event was lost). Returns the failed ids."""
        self._retry_unstored()
        if not hasattr(self.runner, "held"):  # a runner that cannot say what it holds
            return []
        # The running jobs are read before the runner is asked what it holds: a job that turns
        # running after a snapshot of ``held`` would otherwise look orphaned. A job that finishes
        # in between has its terminal event stored before the runner lets it go, so the second
        # read below (a new transaction) finds it finished.
        with self.db.session() as s:
            running = set(s.scalars(select(Job.id).where(Job.status == "running")))
        held = self._held()
        suspects = running - held
        failed: list[str] = []
        adopted: list[Job] = []
        with self.db.session() as s:
            for job in s.scalars(select(Job).where(Job.id.in_(suspects), Job.status == "running")):
                if job.id in self._held():
                    continue
                claim = self.shared.claim(job.id)
                if claim == "adopted":  # its server died: like a restart of that server
                    if self._requeue_or_fail(s, job, "its server stopped"):
                        adopted.append(job)
                    else:
                        failed.append(job.id)
                    continue
                if claim == "other":
                    continue
                self.storage.clear_scratch(job.id)
                self._fail(job, "the worker running the job is gone; submit it again")
                s.add(self._failed_event(job))
                failed.append(job.id)
            if self.shared.distributed:
                held = self._held()
                for job in s.scalars(select(Job).where(Job.status == "queued")):
                    if job.id not in held and self.shared.claim(job.id) == "adopted":
                        adopted.append(job)
        for job_id in failed:
            self.shared.release(job_id)
            self.notifier.notify(job_id)
        for job in adopted:
            log.info("adopting job %s of a server that stopped", job.id)
            self.notifier.notify(job.id)
            self._resubmit(job)
        return failed

    def _held(self) -> set[str]:
        """Ids the runner holds, with those whose terminal event waits to be stored."""
        held = set(self.runner.held())
        with self._unstored_lock:
            held |= {ev.job_id for ev in self._unstored}
        return held

    def _requeue_or_fail(self, s: Any, job: Job, why: str) -> bool:
        """Put a job whose server stopped back in the queue, or fail it past ``max_attempts``
        (True when requeued)."""
        self.storage.clear_partial(job.id)
        if job.attempts < self.max_attempts:
            job.status, job.stage, job.progress = "queued", None, 0.0
            msg = (
                f"{why} while the job was running; started again "
                f"(attempt {job.attempts + 1} of {self.max_attempts})"
            )
            s.add(EventRow(job_id=job.id, kind="queued", status="queued", message=msg))
            return True
        self._fail(job, f"{why} while the job was running, {job.attempts} times; not started again")
        s.add(self._failed_event(job))
        return False

    def _reconcile_loop(self) -> None:
        while not self._stopping.wait(self.reconcile_s):
            try:
                self.shared.heartbeat()
                self.reconcile()
            except Exception:  # the database is still away; try again next round
                log.warning("reconciler: database unavailable", exc_info=True)

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def create(
        self,
        job_id: str,
        user_id: int,
        spec: PipelineSpec,
        options: dict[str, Any],
        config: BaseModel,
        input_name: str | None,
    ) -> Job:
        """Record a queued job (its input already stored) and hand it to the runner."""
        self.storage.publish_input(job_id)
        self.shared.claim(job_id)
        with self.db.session() as s:
            job = Job(
                id=job_id,
                user_id=user_id,
                pipeline=spec.name,
                status="queued",
                options=options,
                input_name=input_name,
            )
            s.add(job)
            s.add(EventRow(job_id=job_id, kind="queued", status="queued"))
        # Read back before submitting: the answer describes the job as accepted (queued); read
        # after, a fast worker could already have moved it on and the 202 would race the runner.
        queued = self.get(job_id)
        self.runner.submit(self._spec(job_id, spec, config))
        return queued  # type: ignore[return-value]

    def _spec(self, job_id: str, spec: PipelineSpec, config: BaseModel) -> JobSpec:
        return JobSpec(
            job_id,
            spec.name,
            spec.run,
            config,
            self.storage.input_path(job_id),
            self.storage.output_dir(job_id),
            self.limits,
            self.storage.scratch_dir(job_id),
        )

    def get(self, job_id: str, user_id: int | None = None) -> Job | None:
        """The job with its artifacts loaded, or None (also when it belongs to another user)."""
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None or (user_id is not None and job.user_id != user_id):
                return None
            _ = job.artifacts
            return job

    def list(self, user_id: int, limit: int = 100, status: str | None = None) -> list[Job]:
        """The user's jobs, newest first."""
        with self.db.session() as s:
            q = select(Job).where(Job.user_id == user_id)
            if status is not None:
                q = q.where(Job.status == status)
            jobs = list(s.scalars(q.order_by(Job.created_at.desc(), Job.id).limit(limit)))
            for j in jobs:
                _ = j.artifacts
            return jobs

    def events_after(self, job_id: str, after: int) -> tuple[list[EventRow], bool]:
        """Events of a job with id > ``after`` in order, and whether the job still exists."""
        with self.db.session() as s:
            rows = list(
                s.scalars(
                    select(EventRow)
                    .where(EventRow.job_id == job_id, EventRow.id > after)
                    .order_by(EventRow.id)
                )
            )
            exists = rows != [] or s.get(Job, job_id) is not None
            return rows, exists

    def delete(self, job_id: str) -> None:
        """Stop the job if it is queued or running (here or on another server), then remove its
        rows and files."""
        self.runner.cancel(job_id)
        self.shared.cancel(job_id)
        with self.db.session() as s:
            s.execute(delete(EventRow).where(EventRow.job_id == job_id))
            s.execute(delete(ArtifactRow).where(ArtifactRow.job_id == job_id))
            s.execute(delete(Job).where(Job.id == job_id))
        self.notifier.notify(job_id)  # its streams end
        self.shared.release(job_id)
        self.storage.delete_job(job_id)

    # ---- runner events

    def apply_event(self, ev: RunnerEvent) -> None:
        """Write one runner event to the database (ignored for deleted or finished jobs) and
        wake the job's event streams."""
        if ev.kind in TERMINAL:  # before the job shows as finished: a killed worker leaves
            self.storage.clear_scratch(ev.job_id)  # its tmp/ and .output.tmp-* behind
        if ev.kind == "succeeded" and self.storage.objects is not None:
            ev = self._publish(ev)
        with self.db.session() as s:
            job = s.get(Job, ev.job_id)
            if job is None or job.status in TERMINAL:
                gone = job is None
            else:
                gone = False
                self._apply(s, job, ev)
        self.notifier.notify(ev.job_id)
        if ev.kind in TERMINAL:
            self.shared.release(ev.job_id)
        if gone and ev.kind in TERMINAL:
            self.storage.delete_job(ev.job_id)  # a deleted job's worker may have written files

    def _publish(self, ev: RunnerEvent) -> RunnerEvent:
        """Copy a succeeded job's outputs to the object store; a failed event when that fails
        (a job no other server could serve is not a success)."""
        try:
            outputs = self.storage.read_manifest(ev.job_id)
        except VoxforgeError:
            return ev  # _apply fails the job, naming the manifest
        except OSError:
            return ev
        try:
            self.storage.publish_outputs(ev.job_id, outputs)
        except (VoxforgeError, OSError) as err:
            return RunnerEvent(ev.job_id, "failed", error=f"outputs not stored: {_first_line(err)}")
        return ev

    def _apply(self, s: Any, job: Job, ev: RunnerEvent) -> None:
        message = None
        if ev.kind == "started":
            job.status, job.started_at, job.progress = "running", utcnow(), 0.0
            job.attempts += 1
            job.stage, job.error = None, None
            kind = "running"
        elif ev.kind == "progress":
            job.stage = ev.stage
            job.progress = max(job.progress, min(1.0, ev.progress))
            kind = "progress"
        elif ev.kind == "succeeded":
            try:
                outputs = self.storage.read_manifest(job.id)
            except VoxforgeError as err:
                self._fail(job, f"the pipeline finished without a manifest ({err})")
            else:
                for o in outputs:
                    job.artifacts.append(
                        ArtifactRow(
                            name=o["name"],
                            media_type=o["media_type"],
                            size=o["size"],
                            sha256=o["sha256"],
                        )
                    )
                job.status, job.progress, job.finished_at = "succeeded", 1.0, utcnow()
            kind = job.status
            message = job.error
        else:
            self._fail(job, self._scrub(ev.error or "failed"))
            kind, message = "failed", job.error
        s.add(
            EventRow(
                job_id=job.id,
                kind=kind,
                status=job.status,
                stage=job.stage,
                progress=job.progress,
                message=message,
            )
        )

    def _scrub(self, text: str) -> str:
        """An error without the server's folders (job folder -> relative, data root -> <data>)."""
        root = str(self.storage.root.resolve())
        jobs = f"{root}/jobs/"
        text = re.sub(re.escape(jobs) + r"[0-9a-f]{32}/", "", text)
        return text.replace(root, "<data>")

    @staticmethod
    def _fail(job: Job, error: str) -> None:
        job.status, job.error, job.finished_at = "failed", error, utcnow()

    @staticmethod
    def _failed_event(job: Job) -> EventRow:
        """The terminal event of a job :meth:`_fail` just failed."""
        return EventRow(
            job_id=job.id,
            kind="failed",
            status="failed",
            stage=job.stage,
            progress=job.progress,
            message=job.error,
        )

    # ---- restart

    def recover(self) -> dict[str, list[str]]:
        """Requeue jobs an earlier server left running (or fail them past ``max_attempts``) and
        submit every queued job, oldest first. Returns the ids by what happened to them."""
        done: dict[str, list[str]] = {"requeued": [], "failed": [], "submitted": []}
        with self.db.session() as s:
            for job in s.scalars(select(Job).where(Job.status == "running")):
                if self.shared.claim(job.id) == "other":  # a live server runs it
                    continue
                if self._requeue_or_fail(s, job, "the server stopped"):
                    done["requeued"].append(job.id)
                else:
                    done["failed"].append(job.id)
            queued = [
                job
                for job in s.scalars(select(Job).where(Job.status == "queued").order_by(Job.created_at))
                if self.shared.claim(job.id) != "other"
            ]
        for job_id in done["failed"]:
            self.shared.release(job_id)
        for job in queued:
            self._resubmit(job)
            done["submitted"].append(job.id)
        return done

    def _resubmit(self, job: Job) -> None:
        """Rebuild a queued job's config from its stored options and submit it."""
        try:
            spec = self.pipelines[job.pipeline]
            config = spec.build_options(job.options)
        except VoxforgeError as err:
            self.report_event(RunnerEvent(job.id, "failed", error=f"cannot restart: {err}"))
            return
        try:
            self.storage.fetch_input(job.id)
        except (VoxforgeError, OSError) as err:
            self.report_event(
                RunnerEvent(job.id, "failed", error=f"input not found: {_first_line(err)}")
            )
            return
        self.runner.submit(self._spec(job.id, spec, config))
