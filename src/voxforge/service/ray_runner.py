""":class:`RayRunner`: the service's jobs as Ray tasks, anywhere in a Ray cluster.

Each job is one Ray task (one CPU) running :func:`~voxforge.service.jobs.execute_job` in its
scratch folder, as a worker process of :class:`~voxforge.service.jobs.ProcessPoolRunner` would.
Started and progress events go through a small queue actor to a thread of the server, which
reports them; the terminal event is the task's return value, reported after the events before
it. DELETE cancels the task (``ray.cancel``: withdrawn when queued, its worker ended when
running). A task whose worker process or node dies is re-run by Ray elsewhere until the job has
been started ``max_attempts`` times (each start is an attempt in the job table), then failed.

The job folders must be on storage every node sees (one machine, a shared file system); the
server's database stays the source of truth.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from voxforge.service.jobs import JobSpec, Report, RunnerEvent, _run_in_scratch

log = logging.getLogger(__name__)

POLL_S = 0.05
"""How often the server's thread looks for events and finished tasks."""


def run_job_task(spec: JobSpec, events: Any) -> RunnerEvent | None:
    """The Ray task: run ``spec``; started and progress events into the ``events`` queue actor,
    the terminal event returned."""
    for var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    terminal: list[RunnerEvent] = []
    lock = threading.Lock()  # progress may be reported from a job's own threads

    def emit(ev: RunnerEvent) -> None:
        if ev.kind in ("succeeded", "failed"):
            terminal.append(ev)
            return
        with lock:
            events.put(ev)

    _run_in_scratch(spec, emit)
    return terminal[-1] if terminal else None


class RayRunner:
    """Jobs as Ray tasks on a local Ray (``address`` None: started here with ``workers`` CPUs)
    or a running cluster (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``)."""

    def __init__(self, workers: int = 2, address: str | None = None, max_attempts: int = 2) -> None:
        self.workers = workers
        self.address = address
        self.max_attempts = max_attempts
        self._ray: Any = None
        self._owned = False
        self._queue: Any = None
        self._remote: Any = None
        self._refs: dict[str, Any] = {}
        self._started: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._report: Report | None = None

    def start(self, report: Report) -> None:
        from ray.util.queue import Queue

        from voxforge.batch.cluster import import_ray, init_ray

        ray = import_ray()
        self._owned = not ray.is_initialized()
        self._ray = init_ray(self.address, self.workers)
        self._report = report
        self._queue = Queue(actor_options={"num_cpus": 0})
        self._remote = ray.remote(num_cpus=1, max_retries=self.max_attempts - 1, retry_exceptions=False)(
            run_job_task
        )
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="voxforge-ray-runner", daemon=True)
        self._thread.start()

    def submit(self, spec: JobSpec) -> None:
        assert self._remote is not None, "runner not started"
        ref = self._remote.options(name=f"voxforge-job:{spec.job_id}").remote(spec, self._queue)
        with self._lock:
            self._refs[spec.job_id] = ref

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            ref = self._refs.pop(job_id, None)
            self._started.discard(job_id)
        if ref is None:
            return False
        self._ray.cancel(ref, force=True)
        return True

    def held(self) -> set[str]:
        """Ids of the jobs submitted and not yet reported finished."""
        with self._lock:
            return set(self._refs)

    def running(self) -> set[str]:
        """Ids of the jobs whose task reported it started and has not finished."""
        with self._lock:
            return set(self._started) & set(self._refs)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._drain()
                with self._lock:
                    refs = {ref: job_id for job_id, ref in self._refs.items()}
                if not refs:
                    self._stop.wait(POLL_S)
                    continue
                ready, _ = self._ray.wait(
                    list(refs), num_returns=len(refs), timeout=POLL_S, fetch_local=False
                )
                if ready:
                    self._drain()  # the events a task sent before it returned go first
                for ref in ready:
                    self._finish(refs[ref], ref)
            except Exception:  # Ray hiccup: keep the loop alive, try again
                if self._stop.is_set():
                    return
                log.exception("ray runner loop")
                self._stop.wait(1.0)

    def _drain(self) -> None:
        for ev in self._queue.get_nowait_batch(self._queue.qsize()):
            with self._lock:
                if ev.job_id not in self._refs:
                    continue  # cancelled
                if ev.kind == "started":
                    self._started.add(ev.job_id)
            self._safe_report(ev)

    def _finish(self, job_id: str, ref: Any) -> None:
        with self._lock:
            if self._refs.get(job_id) is not ref:
                return  # cancelled meanwhile
        try:
            ev = self._ray.get(ref)
        except Exception as err:
            kind = type(err).__name__
            if "Cancel" in kind:
                ev = None
            else:
                ev = RunnerEvent(
                    job_id,
                    "failed",
                    error=f"the Ray worker running the job died ({kind}), "
                    f"{self.max_attempts} attempt(s)",
                )
        if ev is not None:
            self._safe_report(ev)
        with self._lock:
            if self._refs.get(job_id) is ref:
                del self._refs[job_id]
            self._started.discard(job_id)

    def _safe_report(self, ev: RunnerEvent) -> None:
        assert self._report is not None
        try:
            self._report(ev)
        except Exception:  # a database hiccup must not end the loop (the service keeps it)
            log.exception("could not record %s event of job %s", ev.kind, ev.job_id)

    def shutdown(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            refs = list(self._refs.values())
            self._refs.clear()
            self._started.clear()
        for ref in refs:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:
                pass
        if self._queue is not None:
            try:
                self._queue.shutdown()
            except Exception:
                pass
        if self._owned and self._ray is not None:
            self._ray.shutdown()
