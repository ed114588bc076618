"""The analytics cache: Redis when `REDIS_URL` is set, else the PostgreSQL `analytics_cache`
table. Keys carry the data version, so a completed upload makes older answers unreachable
(SPEC §11). A cache that fails is bypassed with a warning: answers never depend on it.

Each server process also keeps the answers it sent last in its own memory (`RecentAnswers`),
in front of the shared backend: a hit on a popular answer then costs no round trip to Redis
(a third of a hit's time there) and survives Redis going away. The keys are the same and
a kept answer expires when the shared one does, so the memory is never fresher, staler or
longer-lived than the shared cache.

The cache holds answers as the bytes that were sent the first time: a hit is sent as stored,
byte for byte the same as the miss that filled it, without decoding or encoding. Large
answers are kept gzip-compressed, so a hit sends a seventh of the bytes to the many clients
that accept gzip (browsers, httpx, curl --compressed) and costs no compression per request.
Lookups run on the event loop (asyncio Redis and PostgreSQL clients); only a miss computes
in a worker thread."""

from __future__ import annotations

import asyncio
import contextvars
import gzip
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from psycopg_pool import AsyncConnectionPool
from starlette.concurrency import run_in_threadpool

log = logging.getLogger(__name__)

Version = tuple[str, int]
# In every key: entries written by earlier versions (other spacing or number formatting) are
# never read, so a hit is always the bytes a miss sends now.
ANSWER_FORMAT = "b3"
# Smaller answers fit in one packet either way; compressing them would only cost time.
GZIP_MIN_BYTES = 1024


def render_json(value: Any) -> bytes:
    """A document as the API sends it: compact UTF-8 JSON (orjson: a few times faster than
    the json module on a long series)."""
    return orjson.dumps(value)


@dataclass(frozen=True)
class Answer:
    """One answer as it is cached and sent: JSON bytes, gzip-compressed when large."""

    data: bytes
    gzipped: bool

    @classmethod
    def of(cls, body: bytes) -> Answer:
        if len(body) < GZIP_MIN_BYTES:
            return cls(body, False)
        return cls(gzip.compress(body, compresslevel=6, mtime=0), True)

    @classmethod
    def from_stored(cls, value: bytes) -> Answer:
        return cls(value[1:], value[:1] == b"z")

    def stored(self) -> bytes:
        return (b"z" if self.gzipped else b"j") + self.data

    def json(self) -> bytes:
        """The JSON bytes, for a client that does not accept gzip."""
        return gzip.decompress(self.data) if self.gzipped else self.data


class CacheBackend(Protocol):
    name: str

    async def get(self, key: str) -> tuple[bytes, float] | None:
        """The stored bytes and the seconds they have left, or None."""
    async def set(self, key: str, body: bytes, ttl_s: int) -> None: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


class PostgresCache:
    """Cache rows in `analytics_cache`; expired rows are ignored and pruned on write."""

    name = "postgresql"

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def get(self, key: str) -> tuple[bytes, float] | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT body, extract(epoch FROM expires_at - now())::float8"
                " FROM analytics_cache WHERE cache_key = %s AND expires_at > now()",
                (key,), binary=True)
            row = await cursor.fetchone()
        return None if row is None else (row[0], row[1])

    async def set(self, key: str, body: bytes, ttl_s: int) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO analytics_cache (cache_key, body, expires_at)"
                " VALUES (%s, %s, now() + make_interval(secs => %s))"
                " ON CONFLICT (cache_key) DO UPDATE"
                " SET body = excluded.body, expires_at = excluded.expires_at",
                (key, body, ttl_s))
            await conn.execute(
                "DELETE FROM analytics_cache WHERE expires_at < now() - interval '1 hour'")

    async def ping(self) -> bool:
        async with self._pool.connection() as conn:
            await conn.execute("SELECT 1")
        return True

    async def close(self) -> None:
        pass  # the pool belongs to the app


class RedisCache:
    name = "redis"

    def __init__(self, url: str) -> None:
        import redis.asyncio

        self._redis = redis.asyncio.Redis.from_url(url, socket_timeout=0.5,
                                                   socket_connect_timeout=0.5)

    async def get(self, key: str) -> tuple[bytes, float] | None:
        async with self._redis.pipeline(transaction=False) as pipe:  # one round trip
            body, left_ms = await pipe.get(key).pttl(key).execute()
        return None if body is None or left_ms <= 0 else (body, left_ms / 1000)

    async def set(self, key: str, body: bytes, ttl_s: int) -> None:
        await self._redis.set(key, body, ex=ttl_s)

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()


class RecentAnswers:
    """The most recently used answers of this process, up to `max_bytes` of stored bytes,
    each until it expires in the shared cache too. Used from the event loop only."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0

    def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: str, stored: bytes, ttl_s: float) -> None:
        """Keep `stored` for `ttl_s` seconds (what it has left in the shared cache)."""
        if len(stored) > self._max_bytes or ttl_s <= 0:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (time.monotonic() + ttl_s, stored)
        self._bytes += len(stored)
        while self._bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        self._bytes -= len(self._entries.pop(key)[1])


class SharedRead:
    """One query answers every caller that was already waiting when it was sent.

    A caller gets the result of a query sent after it arrived, never one already under way:
    that one may have read the database before the caller's moment. Callers arriving while a
    query runs wait for the next one, which then serves all of them. Under load this turns
    one data-version query per request into one per round trip of PostgreSQL, and every
    answer still reflects each commit that came before its request."""

    def __init__(self, fetch: Callable[[], Awaitable[Any]]) -> None:
        self._fetch = fetch
        self._next: asyncio.Future[Any] | None = None    # for callers not served yet
        self._runner: asyncio.Task[None] | None = None

    async def get(self) -> Any:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            if self._runner is None:
                # A context of its own: the query belongs to no single request.
                self._runner = asyncio.create_task(self._run(), context=contextvars.Context())
        # shield: one caller going away must not cancel the query of the others
        return await asyncio.shield(self._next)

    async def _run(self) -> None:
        batch: asyncio.Future[Any] | None = None
        try:
            while self._next is not None:
                batch, self._next = self._next, None
                try:
                    batch.set_result(await self._fetch())
                except Exception as exc:
                    batch.set_exception(exc)
                    batch.exception()  # retrieved here too: no warning when all left
        finally:
            self._runner = None
            for waiting in (batch, self._next):  # stopped (shutdown): nobody waits forever
                if waiting is not None and not waiting.done():
                    waiting.cancel()


class AnalyticsCache:
    """get-or-compute with versioned keys; reports whether the answer was a hit."""

    def __init__(self, backend: CacheBackend, pool: AsyncConnectionPool, ttl_s: int,
                 on_result: Callable[[str, bool], None] | None = None,
                 compute_slots: int = 2, memory_bytes: int = 0) -> None:
        self.backend = backend
        self._recent = RecentAnswers(memory_bytes)
        self._pool = pool
        self._ttl_s = ttl_s
        self._on_result = on_result or (lambda name, hit: None)
        self._version = SharedRead(self._read_version)
        # Computations under way, by key: requests for the same answer wait for one of them.
        self._filling: dict[str, asyncio.Task[Answer]] = {}
        # Answers computed at once: the work is CPU-bound (NumPy and PostgreSQL on the same
        # cores), so more threads than cores only share them out, and every answer of a
        # burst would come last; in turn, the first ones are done early.
        self._slots = asyncio.Semaphore(compute_slots)

    async def _read_version(self) -> Version:
        async with self._pool.connection() as conn:
            cursor = await conn.execute("SELECT store_id, version FROM data_version")
            row = await cursor.fetchone()
        return (str(row[0]), int(row[1])) if row else ("none", 0)

    async def data_version(self) -> Version:
        """(store id, version): which store, and how many uploads it has completed, as of a
        moment after this call began."""
        return await self._version.get()

    async def key(self, name: str, params: dict[str, Any]) -> str:
        digest = hashlib.sha256(
            json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:32]
        store_id, version = await self.data_version()
        return f"dwell:{store_id}:v{version}:{ANSWER_FORMAT}:{name}:{digest}"

    async def get_or_compute(self, name: str, params: dict[str, Any],
                             compute: Callable[[], bytes]) -> tuple[Answer, bool]:
        """The stored answer, or `compute()` (JSON bytes, run in a worker thread) stored for
        next time."""
        key = await self.key(name, params)
        found = self._recent.get(key)
        if found is None:
            try:
                shared = await self.backend.get(key)
            except Exception as exc:  # a broken cache must never break an answer
                log.warning("cache read failed",
                            extra={"backend": self.backend.name, "error": str(exc)})
                shared = None
            if shared is not None:
                found, left_s = shared
                self._recent.put(key, found, left_s)
        if found is not None:
            self._on_result(name, True)
            return Answer.from_stored(found), True
        filling = self._filling.get(key)
        if filling is None:
            # After an upload every dashboard misses at once: the first request computes,
            # the others with the same key wait for it instead of running the same SQL.
            filling = asyncio.create_task(self._fill(key, compute))
            self._filling[key] = filling
            filling.add_done_callback(lambda _: self._filling.pop(key, None))
        # shield: a request that goes away does not cancel the answer the others wait for
        answer = await asyncio.shield(filling)
        self._on_result(name, False)
        return answer, False

    async def _fill(self, key: str, compute: Callable[[], bytes]) -> Answer:
        async with self._slots:
            started = time.perf_counter()
            answer = await run_in_threadpool(lambda: Answer.of(compute()))
        log.info("answer computed", extra={"cache_key": key, "bytes": len(answer.data),
                                           "gzip": answer.gzipped,
                                           "ms": round((time.perf_counter() - started) * 1000, 2)})
        self._recent.put(key, answer.stored(), self._ttl_s)
        try:
            await self.backend.set(key, answer.stored(), self._ttl_s)
        except Exception as exc:
            log.warning("cache write failed", extra={"backend": self.backend.name, "error": str(exc)})
        return answer
