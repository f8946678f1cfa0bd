"""Service settings: one pydantic model, filled from ``VOXFORGE_*`` environment variables and flags.

``ServiceSettings.from_env(**flags)`` reads ``VOXFORGE_DATA_DIR``, ``VOXFORGE_DATABASE_URL``,
``VOXFORGE_MAX_UPLOAD_MB``, ``VOXFORGE_JOBS_PER_MINUTE``, ``VOXFORGE_REQUESTS_PER_MINUTE``,
``VOXFORGE_WORKERS``, ``VOXFORGE_RUNNER`` and the input caps ``VOXFORGE_MAX_ARRAY_MB``,
``VOXFORGE_MAX_UNZIPPED_MB``, ``VOXFORGE_MAX_CELLS``, ``VOXFORGE_MAX_POINTS``, the disk policy
``VOXFORGE_QUOTA_MB``, ``VOXFORGE_KEEP_DAYS``, ``VOXFORGE_KEEP_INPUTS_DAYS``, the shared state of
several server processes ``VOXFORGE_REDIS_URL``, ``VOXFORGE_S3_BUCKET``, ``VOXFORGE_S3_ENDPOINT_URL``,
``VOXFORGE_S3_PREFIX``, ``VOXFORGE_S3_REGION``, ``VOXFORGE_S3_PRESIGN``; flags given
explicitly (not None) win. A plain pydantic model instead of pydantic-settings keeps the
dependency list as it is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from voxforge.core.config import build_config
from voxforge.io.limits import ReadLimits

MIB = 1 << 20

ENV: dict[str, tuple[str, float]] = {
    # field -> (environment variable, multiplier applied to numeric values)
    "data_dir": ("VOXFORGE_DATA_DIR", 1),
    "database_url": ("VOXFORGE_DATABASE_URL", 1),
    "max_upload_bytes": ("VOXFORGE_MAX_UPLOAD_MB", MIB),
    "jobs_per_minute": ("VOXFORGE_JOBS_PER_MINUTE", 1),
    "requests_per_minute": ("VOXFORGE_REQUESTS_PER_MINUTE", 1),
    "workers": ("VOXFORGE_WORKERS", 1),
    "runner": ("VOXFORGE_RUNNER", 1),
    "ray_address": ("VOXFORGE_RAY_ADDRESS", 1),
    "max_array_bytes": ("VOXFORGE_MAX_ARRAY_MB", MIB),
    "max_unzipped_bytes": ("VOXFORGE_MAX_UNZIPPED_MB", MIB),
    "max_cells": ("VOXFORGE_MAX_CELLS", 1),
    "max_points": ("VOXFORGE_MAX_POINTS", 1),
    "quota_bytes_per_key": ("VOXFORGE_QUOTA_MB", MIB),
    "keep_days": ("VOXFORGE_KEEP_DAYS", 1),
    "keep_inputs_days": ("VOXFORGE_KEEP_INPUTS_DAYS", 1),
    "redis_url": ("VOXFORGE_REDIS_URL", 1),
    "s3_bucket": ("VOXFORGE_S3_BUCKET", 1),
    "s3_endpoint_url": ("VOXFORGE_S3_ENDPOINT_URL", 1),
    "s3_prefix": ("VOXFORGE_S3_PREFIX", 1),
    "s3_region": ("VOXFORGE_S3_REGION", 1),
    "s3_presign": ("VOXFORGE_S3_PRESIGN", 1),
}


class ServiceSettings(BaseModel):
    """Everything ``voxforge serve`` needs; the defaults run a single-machine server."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(
        Path("voxforge-data"), description="Root of the database file (SQLite) and job folders."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/voxforge.db. PostgreSQL URLs "
        "(postgresql+psycopg://...) work when a driver is installed.",
    )
    max_upload_bytes: int = Field(256 * MIB, ge=1, description="Largest accepted upload, bytes.")
    jobs_per_minute: float = Field(
        30, gt=0, description="Job submissions per key per minute (token bucket, burst = one minute)."
    )
    requests_per_minute: float = Field(
        1200, gt=0, description="Authenticated requests per key per minute (polls, downloads)."
    )
    workers: int = Field(2, ge=1, le=64, description="Worker processes running jobs.")
    runner: Literal["process", "thread", "ray"] = Field(
        "process",
        description="'process': a pool of worker processes; 'thread': jobs in threads of the "
        "server process (tests, debugging); 'ray': Ray tasks (pip install 'voxforge[ray]').",
    )
    ray_address: str | None = Field(
        None,
        description="With runner 'ray': the cluster to join (auto, HOST:PORT, ray://HOST:PORT); "
        "None starts a local Ray with 'workers' CPUs.",
    )
    max_attempts: int = Field(
        2,
        ge=1,
        le=10,
        description="A job that was running when the server stopped is started again until it "
        "has been started this many times, then marked failed.",
    )
    poll_interval_s: float = Field(
        5.0,
        gt=0,
        le=60,
        description="Longest wait of an event stream between database reads when no event is "
        "signalled in this process (events written by another server process on the same "
        "database); events of this process are pushed at once.",
    )
    max_streams_per_key: int = Field(
        20, ge=1, le=10_000, description="Open event streams one API key may hold (429 past it)."
    )
    max_array_bytes: int = Field(
        1 << 30, ge=1, description="Largest array an npy/npz upload may declare, bytes."
    )
    max_unzipped_bytes: int = Field(
        2 << 30, ge=1, description="Bytes a zip upload may expand to (counted while unpacking)."
    )
    max_cells: int = Field(
        64_000_000,
        ge=1,
        description="Largest voxel grid: read from a file, or asked for by a job's options.",
    )
    max_points: int = Field(50_000_000, ge=1, description="Most points a PLY/PCD/LAS may declare.")
    db_timeout_s: float = Field(
        10, gt=0, le=600, description="How long a request waits for a locked SQLite database."
    )
    reconcile_s: float = Field(
        2, gt=0, le=600, description="How often jobs marked running without a worker are fixed."
    )

    body_timeout_s: float = Field(
        30, gt=0, le=3600, description="A request body that sends nothing this long is refused (408)."
    )
    anonymous_requests_per_minute: float = Field(
        60, gt=0, description="Requests without a valid key per client address per minute."
    )
    api_docs: bool = Field(
        False,
        description="Serve /docs and /redoc (their JavaScript comes from a CDN); the schema is "
        "always at /openapi.json.",
    )

    quota_bytes_per_key: int | None = Field(
        None, ge=1, description="Disk a key's jobs may hold (inputs and artifacts); None: no quota."
    )
    keep_days: float | None = Field(
        None, ge=0, description="Finished jobs older than this are deleted; None keeps them."
    )
    keep_inputs_days: float | None = Field(
        None,
        ge=0,
        description="Inputs of finished jobs older than this are removed (outputs stay).",
    )
    gc_interval_s: float = Field(
        3600, gt=0, description="How often the server applies the retention policy."
    )

    redis_url: str | None = Field(
        None,
        description="redis://HOST:PORT/DB shared by several server processes: rate limits, event "
        "wake-ups, cancellation, job ownership (voxforge.service.shared); None keeps them in "
        "this process.",
    )
    server_ttl_s: float = Field(
        15,
        gt=0,
        le=600,
        description="With Redis: a server silent this long is taken for dead and its jobs are "
        "adopted by the others (refreshed every reconcile_s).",
    )
    s3_bucket: str | None = Field(
        None,
        description="Bucket of an S3-compatible store for job inputs and outputs (credentials from "
        "the AWS_* variables); None keeps files in the data folder only.",
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3 endpoint (MinIO, Ceph...); None: AWS for the configured region."
    )
    s3_prefix: str = Field("", description="Key prefix inside the bucket, e.g. 'voxforge/'.")
    s3_region: str | None = Field(None, description="S3 region; None: boto3's default.")
    s3_presign: bool = Field(
        False,
        description="Answer downloads with a redirect to a 5-minute presigned URL instead of "
        "streaming the object through the server.",
    )

    @property
    def read_limits(self) -> ReadLimits:
        """The caps the readers apply (``voxforge.io.limits``), from these settings."""
        return ReadLimits(
            max_array_bytes=self.max_array_bytes,
            max_unzipped_bytes=self.max_unzipped_bytes,
            max_cells=self.max_cells,
            max_points=self.max_points,
        )

    @property
    def db_url(self) -> str:
        """The database URL in use (the SQLite default lives in the data dir)."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'voxforge.db').resolve()}"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **flags: Any) -> ServiceSettings:
        """Settings from ``VOXFORGE_*`` variables, then ``flags`` (None means not given)."""
        env = os.environ if environ is None else environ
        data: dict[str, Any] = {}
        for field, (var, scale) in ENV.items():
            if var in env and env[var] != "":
                value: Any = env[var]
                if scale != 1:
                    value = _scaled(var, value, scale)
                data[field] = value
        data.update({k: v for k, v in flags.items() if v is not None})
        return build_config(cls, data, where="service settings")


def _scaled(var: str, value: str, scale: float) -> int:
    from voxforge.core.errors import ConfigError

    try:
        return int(float(value) * scale)
    except ValueError:
        raise ConfigError(f"{var}={value!r}: expected a number") from None
