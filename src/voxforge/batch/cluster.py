"""Ray sessions: a quiet local Ray on this machine, or a running cluster joined by address.

A local session starts Ray with the CPUs asked for, no dashboard, no usage reporting, and its
logs and sockets in a short temporary folder (``$TMPDIR/voxforge-ray``); it stops when the block
ends. Joining a cluster (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``) leaves the cluster
running. Ray is an optional dependency (``pip install 'voxforge[ray]'``).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
    try:
        ray.init(**kwargs)
    except ConnectionError as err:
        raise VoxforgeError(f"cannot reach the Ray cluster at {address}: {err}") from None
    return ray


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
