"""API keys and per-key rate limits.

A key is ``vf_`` + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored: with
that much entropy a fast hash is as good as a slow one, and lookups stay one indexed query.
Rate limits are token buckets per key held in the server process (a multi-process deployment
behind a balancer would move them to a shared store).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from voxforge.core.errors import ConfigError
from voxforge.service.db import Database, User, as_utc, utcnow

KEY_PREFIX = "vf_"


def hash_key(key: str) -> str:
    """Hex SHA-256 of an API key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class UserInfo:
    """A user as the routes and the CLI see it (never the key, never the hash)."""

    id: int
    name: str
    key_prefix: str
    created_at: str
    revoked: bool


def _info(u: User) -> UserInfo:
    created = as_utc(u.created_at)
    assert created is not None
    return UserInfo(u.id, u.name, u.key_prefix, created.isoformat(), u.revoked_at is not None)


def create_user(db: Database, name: str) -> tuple[UserInfo, str]:
    """Create a user and return it with its API key (shown once, stored only as a hash).

    A revoked user of that name gets a new key and is active again (its jobs come back with it).

    Raises:
        ConfigError: empty name, or an active user has the name (``users rotate`` changes its key).
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise ConfigError(f"user name must be 1 to 100 characters, got {len(name)}")
    with db.session() as s:
        user = s.scalar(select(User).where(User.name == name))
        if user is not None and user.revoked_at is None:
            raise ConfigError(
                f"user {name!r} exists; give it a new key with 'voxforge users rotate {name}'"
            )
    if user is not None:
        return rotate_user(db, name)
    key = new_key()
    with db.session() as s:
        user = User(name=name, key_hash=hash_key(key), key_prefix=key[:10])
        s.add(user)
        s.flush()
        info = _info(user)
    return info, key


def rotate_user(db: Database, name: str) -> tuple[UserInfo, str]:
    """Give a user a new API key (the old one stops working at once); a revoked user is active
    again. Returns the user and the new key.

    Raises:
        ConfigError: no such user.
    """
    key = new_key()
    with db.session() as s:
        user = s.scalar(select(User).where(User.name == name))
        if user is None:
            raise ConfigError(f"no user named {name!r}")
        user.key_hash, user.key_prefix, user.revoked_at = hash_key(key), key[:10], None
        s.flush()
        info = _info(user)
    return info, key


def list_users(db: Database) -> list[UserInfo]:
    with db.session() as s:
        return [_info(u) for u in s.scalars(select(User).order_by(User.id))]


def revoke_user(db: Database, name: str) -> UserInfo:
    """Switch a user's key off (their jobs stay, unreachable until a new key is issued).

    Raises:
        ConfigError: no such user.
    """
    with db.session() as s:
        user = s.scalar(select(User).where(User.name == name))
        if user is None:
            raise ConfigError(f"no user named {name!r}")
        if user.revoked_at is None:
            user.revoked_at = utcnow()
        return _info(user)


def authenticate(db: Database, key: str) -> UserInfo | None:
    """The active user holding ``key``, or None."""
    with db.session() as s:
        user = s.scalar(select(User).where(User.key_hash == hash_key(key)))
        if user is None or user.revoked_at is not None:
            return None
        return _info(user)


class RateLimiter:
    """Token buckets: ``per_minute`` tokens a minute per key, bursts up to one minute's worth."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, float(per_minute))
        self._clock = clock
        self._buckets: dict[object, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: object) -> float:
        """Spend one token; 0.0 when allowed, else the seconds until one is available."""
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


def retry_after(seconds: float) -> str:
    """The ``Retry-After`` header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
