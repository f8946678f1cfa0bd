"""Ray sessions: a quiet local Ray on this machine, or a running cluster joined by address.

A local session starts Ray with the CPUs asked for, no dashboard, no usage reporting, and its
logs and sockets in a short temporary folder (``$TMPDIR/voxforge-ray``); it stops when the block
ends. Joining a cluster (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``) leaves the cluster
running. Ray is an optional dependency (``pip install 'voxforge[ray]'``).
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from voxforge.core.errors import ConfigError, VoxforgeError

QUIET_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",  # never report usage over the network
    "RAY_DEDUP_LOGS": "0",
}
"""Environment a Ray session is started with (unless the caller set the variables)."""
OBJECT_STORE_BYTES = 200 * (1 << 20)
"""Object store of a local session: tasks pass paths and small records, not arrays."""


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        ConfigError: Ray is not installed (the message names the extra to install).
    """
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "Ray is not installed; pip install 'voxforge[ray]' (or use --runner local)"
        ) from None
    return ray


def ray_temp_dir() -> Path:
    """Where a local session keeps its sockets and logs (short: Unix sockets have a 107-byte limit)."""
    return Path(tempfile.gettempdir()) / "voxforge-ray"


def init_ray(address: str | None, workers: int | None) -> Any:
    """Start (``address`` None) or join a Ray cluster unless this process already has one.

    Returns the ``ray`` module.

    Raises:
        VoxforgeError: the cluster at ``address`` cannot be reached (one line).
    """
    ray = import_ray()
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "configure_logging": False,
        "log_to_driver": False,
        "logging_level": "warning",
    }
    if address is None:
        # Ray turns token authentication on for a new local cluster and says so on stderr; the
        # token (~/.ray/auth_token) stays on, only the notice is dropped.
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
            logging.ERROR
        )
        kwargs.update(
            num_cpus=workers or os.cpu_count() or 1,
            object_store_memory=OBJECT_STORE_BYTES,
            _temp_dir=str(ray_temp_dir()),
        )
    else:
        kwargs.pop("include_dashboard")
        kwargs["address"] = address
    handlers = _signal_handlers()
    try:
        ray.init(**kwargs)
    except ConnectionError as err:
        raise VoxforgeError(f"cannot reach the Ray cluster at {address}: {err}") from None
    finally:
        _restore(handlers)  # Ray's own SIGTERM handler would exit at once, skipping clean-ups
    return ray


def _signal_handlers() -> dict[int, Any]:
    """SIGTERM's and SIGINT's handlers now (none outside the main thread: they cannot change)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}


def _restore(handlers: dict[int, Any]) -> None:
    import signal

    for sig, handler in handlers.items():
        if handler is not None and signal.getsignal(sig) is not handler:
            signal.signal(sig, handler)


@contextmanager
def ray_session(address: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A Ray session for the block: started and stopped here, or the one already running in
    this process (left as it was)."""
    ray = import_ray()
    owned = not ray.is_initialized()
    init_ray(address, workers)
    try:
        yield ray
    finally:
        if owned:
            ray.shutdown()


class LocalCluster:
    """A Ray cluster of separate nodes on this machine, started with ``ray start``: a head and
    worker nodes, each with its own CPUs and a custom resource naming it (``head``, ``node1``
    ...). For trying a cluster and for testing that a node lost mid-batch loses no item.

    The nodes share a fresh authentication token; :meth:`driver_env` is the environment a
    process needs to join (``voxforge batch --address`` run with it). Nodes run in their own
    process groups; :meth:`kill` ends one at once (SIGKILL to its
    raylet, object store and workers), as a machine that loses power would. The head is told
    to notice a dead node within about 3 s.
    """

    HEALTH_ENV: ClassVar[dict[str, str]] = {
        "RAY_health_check_period_ms": "500",
        "RAY_health_check_failure_threshold": "4",
        "RAY_health_check_initial_delay_ms": "500",
    }

    def __init__(self, cpus: tuple[int, ...] = (1, 1), temp_dir: Path | None = None) -> None:
        self.cpus = cpus
        self.temp_dir = temp_dir or Path(tempfile.mkdtemp(prefix="vfray-", dir="/tmp"))
        self.port = _free_port()
        self.address = ""  # HOST:PORT of the head, read from its log once it started
        self.nodes: list[Any] = []
        self.token = secrets.token_hex(32)

    def driver_env(self) -> dict[str, str]:
        """Environment of a process that joins this cluster (its token, no usage reporting)."""
        return {**QUIET_ENV, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    def _env(self) -> dict[str, str]:
        env = {**os.environ, **self.driver_env(), **self.HEALTH_ENV}
        env.setdefault("OMP_NUM_THREADS", "1")
        return env

    def start(self) -> LocalCluster:
        """Start the head, then each worker node; returns self once all have started (every
        process is ended again when one fails to start)."""
        try:
            for i, cpus in enumerate(self.cpus):
                self._start_node(i, cpus)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, i: int, cpus: int) -> None:
        import json
        import subprocess
        import sys

        name = "head" if i == 0 else f"node{i}"
        env = self._env()
        args = [
            sys.executable,
            "-m",
            "ray.scripts.scripts",
            "start",
            "--block",
            f"--num-cpus={cpus}",
            f"--resources={json.dumps({name: 1})}",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
            "--disable-usage-stats",
        ]
        if i == 0:
            args += [
                "--head",
                f"--port={self.port}",
                "--include-dashboard=false",
                f"--temp-dir={self.temp_dir}",
            ]
        else:
            args += [f"--address={self.address}"]
        log = self.temp_dir / f"{name}.log"
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            self.nodes.append(
                subprocess.Popen(
                    args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        self._wait_started(self.nodes[-1], log)
        if i == 0:
            import re

            found = re.search(r"ray start --address='([^']+)'", log.read_text(errors="replace"))
            if found is None:
                raise VoxforgeError(f"the Ray head did not say its address (log: {log})")
            self.address = found.group(1)

    @staticmethod
    def _wait_started(proc: Any, log: Path, timeout: float = 120.0) -> None:
        import time

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace").strip().splitlines()[-1:]
                raise VoxforgeError(f"a Ray node exited while starting: {' '.join(tail)}")
            if "Ray runtime started" in log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise VoxforgeError(f"a Ray node did not start in {timeout:.0f} s (log: {log})")

    def kill(self, index: int) -> None:
        """SIGKILL every process of node ``index`` (1 = the first worker node): its process
        group and every descendant (Ray starts worker processes in sessions of their own)."""
        import signal

        proc = self.nodes[index]
        for pid in [*_descendants(proc.pid), proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)

    def stop(self) -> None:
        """End every node (worker nodes first), and remove the cluster's temporary folder."""
        import shutil
        import signal

        for proc in reversed(self.nodes):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(15)
                except (ProcessLookupError, Exception):
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first found, from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
