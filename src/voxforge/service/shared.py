"""State that several server processes share: rate limits, event wake-ups, cancellation, ownership.

Two implementations of one small interface (:class:`LocalShared`, :class:`RedisShared`):

* :class:`LocalShared` (the embedded default): token buckets and the event notifier live in this
  process, and this process owns every job in the database.
* :class:`RedisShared` (``VOXFORGE_REDIS_URL``): the token buckets are Redis hashes updated by one
  Lua script (the same limit holds across every server process behind a balancer), and so is the
  count of a key's open event streams (one field per live server); a stored event
  or a ``DELETE`` is published on one channel, and every server wakes the job's streams or stops
  the job if its runner holds it; each job has an owner (the server that handed it to its runner)
  and each server a liveness key refreshed by its reconciler, so a server adopts the queued and
  running jobs of a server that died and leaves those of live servers alone.

:meth:`claim` answers ``"mine"`` (this server holds the job), ``"adopted"`` (nobody alive held
it; this server does now) or ``"other"`` (a live server holds it).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Literal, Protocol

from voxforge.core.errors import VoxforgeError
from voxforge.service.auth import RateLimiter
from voxforge.service.jobs import EventNotifier

log = logging.getLogger(__name__)

Claim = Literal["mine", "adopted", "other"]


class SharedStateUnavailableError(VoxforgeError):
    """Redis cannot be reached (down, refused, timed out): 503."""

    http_status = 503


class Limiter(Protocol):
    def take(self, key: object) -> float:
        """Spend one token; 0.0 when allowed, else the seconds until one is available."""


class Shared(Protocol):
    """What :class:`~voxforge.service.jobs.JobService` and the routes share with other servers."""

    server_id: str
    distributed: bool
    notifier: EventNotifier

    def limiter(self, name: str, per_minute: float) -> Limiter: ...

    def claim(self, job_id: str) -> Claim: ...

    def held_elsewhere(self, job_id: str) -> bool: ...

    def release(self, job_id: str) -> None: ...

    def open_stream(self, key: object, cap: int) -> bool: ...

    def close_stream(self, key: object) -> None: ...

    def cancel(self, job_id: str) -> None: ...

    def on_cancel(self, callback: Callable[[str], Any]) -> None: ...

    def heartbeat(self) -> None: ...

    def close(self) -> None: ...


class LocalShared:
    """Everything in this process: the single-server default."""

    distributed = False

    def __init__(self) -> None:
        self.server_id = uuid.uuid4().hex
        self.notifier = EventNotifier()

    def limiter(self, name: str, per_minute: float) -> Limiter:
        return RateLimiter(per_minute)

    def claim(self, job_id: str) -> Claim:
        return "mine"

    def held_elsewhere(self, job_id: str) -> bool:
        return False

    def release(self, job_id: str) -> None:
        pass

    def open_stream(self, key: object, cap: int) -> bool:
        return True  # the server counts its own streams

    def close_stream(self, key: object) -> None:
        pass

    def cancel(self, job_id: str) -> None:
        pass  # the job service cancels on its own runner

    def on_cancel(self, callback: Callable[[str], Any]) -> None:
        pass

    def heartbeat(self) -> None:
        pass

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- Redis

TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(v[1]) or cap
local ts = tonumber(v[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(cap / rate) + 60)
return tostring(wait)
"""
"""One token bucket step on the Redis server's clock (no skew between server machines)."""

CLAIM = """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then return 1 end
if owner and redis.call('EXISTS', ARGV[2] .. owner) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 2
"""
"""0: a live server owns the job; 1: this server does; 2: adopted (no owner, or a dead one)."""

OPEN_STREAM = """
local h = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #h, 2 do
  if redis.call('EXISTS', ARGV[3] .. h[i]) == 1 then total = total + tonumber(h[i + 1])
  else redis.call('HDEL', KEYS[1], h[i]) end
end
if total >= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return 1
"""
"""Open streams of a key, one hash field per server; the fields of dead servers are dropped."""

CLOSE_STREAM = """
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisRateLimiter:
    """A token bucket per key in a Redis hash: ``per_minute`` a minute, bursts of one minute."""

    def __init__(self, client: Any, name: str, per_minute: float) -> None:
        self.client, self.name = client, name
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, float(per_minute))
        self._script = client.register_script(TOKEN_BUCKET)

    def take(self, key: object) -> float:
        import redis

        try:
            return float(self._script(keys=[f"{self.name}:{key}"], args=[self.rate, self.capacity]))
        except redis.RedisError as err:
            raise SharedStateUnavailableError(_redis_down(err)) from None


class RedisNotifier(EventNotifier):
    """Wakes streams in this process at once and publishes the job id for the other servers."""

    def __init__(self, shared: RedisShared) -> None:
        super().__init__()
        self._shared = shared

    def notify(self, job_id: str) -> None:
        self.wake(job_id)
        self._shared.publish("e", job_id)

    def wake(self, job_id: str) -> None:
        """Wake this process's streams of ``job_id`` only."""
        super().notify(job_id)


class RedisShared:
    """Rate limits, wake-ups, cancellation and job ownership through one Redis server."""

    distributed = True

    def __init__(self, url: str, prefix: str = "voxforge", ttl_s: float = 15.0) -> None:
        import redis

        self.server_id = uuid.uuid4().hex
        self.prefix, self.ttl_ms = prefix, max(1000, int(ttl_s * 1000))
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.channel = f"{prefix}:signals"
        self._claim = self.client.register_script(CLAIM)
        self._release = self.client.register_script(RELEASE)
        self._open_stream = self.client.register_script(OPEN_STREAM)
        self._close_stream = self.client.register_script(CLOSE_STREAM)
        self._cancel_callbacks: list[Callable[[str], Any]] = []
        self.notifier = RedisNotifier(self)
        self._stop = threading.Event()
        self.heartbeat()  # fails here (one clear error at start) when Redis is not there
        self._listener = threading.Thread(target=self._listen, name="voxforge-redis", daemon=True)
        self._listener.start()

    def _server_key(self, server_id: str) -> str:
        return f"{self.prefix}:server:{server_id}"

    def limiter(self, name: str, per_minute: float) -> Limiter:
        return RedisRateLimiter(self.client, f"{self.prefix}:rate:{name}", per_minute)

    def claim(self, job_id: str) -> Claim:
        with _unavailable():
            code = int(
                self._claim(
                    keys=[f"{self.prefix}:owner:{job_id}"],
                    args=[self.server_id, f"{self.prefix}:server:"],
                )
            )
        return ("other", "mine", "adopted")[code]  # type: ignore[return-value]

    def held_elsewhere(self, job_id: str) -> bool:
        """Whether another live server owns ``job_id`` (nothing changes)."""
        with _unavailable():
            owner = self.client.get(f"{self.prefix}:owner:{job_id}")
            if owner is None or owner.decode() == self.server_id:
                return False
            return bool(self.client.exists(self._server_key(owner.decode())))

    def release(self, job_id: str) -> None:
        with _unavailable():
            self._release(keys=[f"{self.prefix}:owner:{job_id}"], args=[self.server_id])

    def open_stream(self, key: object, cap: int) -> bool:
        """Count one more event stream of API key ``key`` unless all servers hold ``cap``."""
        with _unavailable():
            return bool(
                self._open_stream(
                    keys=[f"{self.prefix}:streams:{key}"],
                    args=[self.server_id, cap, f"{self.prefix}:server:"],
                )
            )

    def close_stream(self, key: object) -> None:
        with _unavailable():
            self._close_stream(keys=[f"{self.prefix}:streams:{key}"], args=[self.server_id])

    def cancel(self, job_id: str) -> None:
        self.publish("c", job_id)

    def on_cancel(self, callback: Callable[[str], Any]) -> None:
        self._cancel_callbacks.append(callback)

    def heartbeat(self) -> None:
        """Mark this server alive for ``ttl_s`` (the reconciler calls it every round)."""
        with _unavailable():
            self.client.set(self._server_key(self.server_id), "1", px=self.ttl_ms)

    def publish(self, kind: str, job_id: str) -> None:
        import redis

        try:
            self.client.publish(self.channel, f"{kind}:{job_id}")
        except redis.RedisError:  # other servers' streams fall back to their poll interval
            log.warning("could not publish %s of job %s to Redis", kind, job_id, exc_info=True)

    def _listen(self) -> None:
        """Relay the channel's messages to this process's streams and runner until closed."""
        while not self._stop.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    msg = pubsub.get_message(timeout=0.5)
                    if msg is not None:
                        self._dispatch(msg["data"])
            except Exception:
                if not self._stop.is_set():
                    log.warning("Redis subscription lost; reconnecting", exc_info=True)
                    self._stop.wait(1.0)
            finally:
                try:
                    pubsub.close()
                except Exception:
                    pass

    def _dispatch(self, data: Any) -> None:
        text = data.decode() if isinstance(data, bytes) else str(data)
        kind, _, job_id = text.partition(":")
        if kind == "e":
            self.notifier.wake(job_id)
        elif kind == "c":
            for callback in self._cancel_callbacks:
                try:
                    callback(job_id)
                except Exception:
                    log.exception("cancelling job %s failed", job_id)

    def close(self) -> None:
        """Stop listening and drop this server's liveness key (others adopt its jobs at once)."""
        self._stop.set()
        self._listener.join(2)
        try:
            self.client.delete(self._server_key(self.server_id))
        except Exception:
            pass
        self.client.close()


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    """Redis errors -> :class:`SharedStateUnavailableError` (a 503 with one line)."""
    import redis

    try:
        yield
    except redis.RedisError as err:
        raise SharedStateUnavailableError(_redis_down(err)) from None


def _redis_down(err: Exception) -> str:
    return f"the shared state (Redis) is unavailable ({type(err).__name__}); try again later"


def make_shared(redis_url: str | None, ttl_s: float = 15.0, prefix: str = "voxforge") -> Shared:
    """:class:`RedisShared` when a URL is given, else :class:`LocalShared`."""
    if not redis_url:
        return LocalShared()
    try:
        import redis  # noqa: F401
    except ImportError:
        from voxforge.core.errors import ConfigError

        raise ConfigError(
            "redis_url is set but the 'redis' package is not installed (pip install redis)"
        ) from None
    return RedisShared(redis_url, prefix, ttl_s)
