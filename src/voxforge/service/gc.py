"""Disk policy of the service: per-key quotas, retention of finished jobs, garbage collection.

* :func:`key_usage` is what a key's jobs hold on disk (inputs and artifacts);
  :func:`check_quota` refuses a submission past ``quota_bytes_per_key`` (413, naming the quota).
* :func:`collect` applies the retention policy: finished jobs older than ``keep_days`` are deleted
  (rows and files), inputs of finished jobs older than ``keep_inputs_days`` are removed (a finished
  job never runs again), and folders no job row owns (an upload whose request died) go after an
  hour. ``voxforge admin gc`` runs it once; ``voxforge serve`` runs it every ``gc_interval_s``.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, func, select

from voxforge.core.errors import SizeLimitError
from voxforge.service.db import TERMINAL, ArtifactRow, Database, EventRow, Job, as_utc, utcnow
from voxforge.service.storage import Storage

ORPHAN_AGE = dt.timedelta(hours=1)
"""A job folder without a row is left alone this long (its upload may still be arriving)."""


@dataclass
class GcReport:
    """What one collection removed."""

    jobs_deleted: list[str] = field(default_factory=list)
    inputs_removed: list[str] = field(default_factory=list)
    orphans_removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0

    def line(self) -> str:
        return (
            f"{len(self.jobs_deleted)} jobs deleted, {len(self.inputs_removed)} inputs removed, "
            f"{len(self.orphans_removed)} orphan folders removed, {self.bytes_freed:,} bytes freed"
        )


def folder_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when it is gone)."""
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def key_usage(db: Database, storage: Storage, user_id: int) -> int:
    """Bytes the key's jobs hold: their artifacts (from the database) and inputs (on disk)."""
    with db.session() as s:
        artifacts = s.scalar(
            select(func.coalesce(func.sum(ArtifactRow.size), 0))
            .join(Job, Job.id == ArtifactRow.job_id)
            .where(Job.user_id == user_id)
        )
        ids = list(s.scalars(select(Job.id).where(Job.user_id == user_id)))
    return int(artifacts or 0) + sum(folder_bytes(storage.input_dir(i)) for i in ids)


def check_quota(db: Database, storage: Storage, user_id: int, quota: int | None, extra: int = 0) -> None:
    """Refuse when the key's jobs plus ``extra`` bytes would pass ``quota`` (None: no quota).

    Raises:
        SizeLimitError: over the quota; the message names it and what the key uses.
    """
    if quota is None:
        return
    used = key_usage(db, storage, user_id)
    if used + extra > quota:
        raise SizeLimitError(
            f"this key's jobs hold {used:,} bytes; the quota is {quota:,} bytes "
            "(delete finished jobs to make room)"
        )


def collect(
    db: Database,
    storage: Storage,
    keep_days: float | None,
    keep_inputs_days: float | None = None,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> GcReport:
    """Apply the retention policy once (see the module docstring); ``dry_run`` only reports."""
    now = now or utcnow()
    report = GcReport()
    with db.session() as s:
        finished = [
            (j.id, as_utc(j.finished_at)) for j in s.scalars(select(Job).where(Job.status.in_(TERMINAL)))
        ]
        known = set(s.scalars(select(Job.id)))
    for job_id, finished_at in finished:
        if finished_at is None:
            continue
        age = now - finished_at
        if keep_days is not None and age > dt.timedelta(days=keep_days):
            report.bytes_freed += folder_bytes(storage.job_dir(job_id))
            report.jobs_deleted.append(job_id)
            if not dry_run:
                _delete_job(db, storage, job_id)
        elif keep_inputs_days is not None and age > dt.timedelta(days=keep_inputs_days):
            size = folder_bytes(storage.input_dir(job_id))
            if size:
                report.bytes_freed += size
                report.inputs_removed.append(job_id)
                if not dry_run:
                    storage.remove_input(job_id)
    jobs_root = storage.root / "jobs"
    for d in jobs_root.iterdir() if jobs_root.is_dir() else ():
        if not d.is_dir() or d.name in known:
            continue
        mtime = dt.datetime.fromtimestamp(d.stat().st_mtime, dt.UTC)
        if now - mtime > ORPHAN_AGE:
            report.bytes_freed += folder_bytes(d)
            report.orphans_removed.append(d.name)
            if not dry_run:
                shutil.rmtree(d, ignore_errors=True)
    return report


def _delete_job(db: Database, storage: Storage, job_id: str) -> None:
    with db.session() as s:
        s.execute(delete(EventRow).where(EventRow.job_id == job_id))
        s.execute(delete(ArtifactRow).where(ArtifactRow.job_id == job_id))
        s.execute(delete(Job).where(Job.id == job_id))
    storage.delete_job(job_id)
