"""The service database (SQLAlchemy 2): users (API key hashes), jobs, their artifacts and events.

SQLite by default (one file in the data dir, WAL journal so readers never wait for the writer);
any SQLAlchemy URL works the same way, e.g. ``postgresql+psycopg://user:pw@host/db``. The job
table is the source of truth: the runner only executes, and every state change it reports lands
here, so a restarted server knows what was queued or running.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)

JOB_STATUSES = ("queued", "running", "succeeded", "failed")
TERMINAL = frozenset({"succeeded", "failed"})


def utcnow() -> dt.datetime:
    """Now, timezone-aware UTC (stored naive-UTC by SQLite; see :func:`as_utc`)."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite drops the timezone: read naive datetimes back as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    pass


class User(Base):
    """One API key holder; only the SHA-256 of the key is stored."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    jobs: Mapped[list[Job]] = relationship(back_populates="user", cascade="all, delete-orphan")


class Job(Base):
    """One submitted job: what to run on which input, and how far it got."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    pipeline: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    stage: Mapped[str | None] = mapped_column(String(60), default=None)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    input_name: Mapped[str | None] = mapped_column(String(255), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    user: Mapped[User] = relationship(back_populates="jobs")
    artifacts: Mapped[list[ArtifactRow]] = relationship(
        back_populates="job", cascade="all, delete-orphan", order_by="ArtifactRow.id"
    )
    events: Mapped[list[EventRow]] = relationship(
        back_populates="job", cascade="all, delete-orphan", order_by="EventRow.id"
    )


class ArtifactRow(Base):
    """One output file of a succeeded job, as its ``manifest.json`` lists it."""

    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))

    job: Mapped[Job] = relationship(back_populates="artifacts")


class EventRow(Base):
    """One progress or status change of a job; the id orders the server-sent event stream."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str | None] = mapped_column(String(60), default=None)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    job: Mapped[Job] = relationship(back_populates="events")


class Database:
    """An engine and a session factory; ``create_all`` makes the tables if they are missing."""

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url
        self.engine = make_engine(url, timeout_s)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        Base.metadata.create_all(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self._sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def check_writable(self) -> None:
        """Write and roll back one row: raises (SQLAlchemy errors) when the database is down,
        locked past the busy timeout, or read-only."""
        with self._sessions() as s:
            s.execute(text("UPDATE jobs SET attempts = attempts WHERE id = ''"))
            s.rollback()

    def dispose(self) -> None:
        self.engine.dispose()


def make_engine(url: str, timeout_s: float = 30.0) -> Engine:
    """An engine; SQLite gets WAL, a busy timeout of ``timeout_s`` and foreign keys switched on."""
    # One connection per request thread (AnyIO runs up to 40): no thread waits for the pool, and
    # no burst of polls opens and closes overflow connections (a PostgreSQL backend each).
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=20)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": timeout_s},
        pool_size=20,
        max_overflow=30,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(conn: Any, _: Any) -> None:
        cur = conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine
