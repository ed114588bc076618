"""The analytics cache: Redis when `REDIS_URL` is set, else the PostgreSQL `analytics_cache`
table. Keys carry the data version, so a completed upload makes older answers unreachable
(SPEC §11). A cache that fails is bypassed with a warning: answers never depend on it."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)


class CacheBackend(Protocol):
    name: str

    def get(self, key: str) -> Any | None: ...
    def set(self, key: str, value: Any, ttl_s: int) -> None: ...
    def ping(self) -> bool: ...


class PostgresCache:
    """Cache rows in `analytics_cache`; expired rows are ignored and pruned on write."""

    name = "postgresql"

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def get(self, key: str) -> Any | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT value FROM analytics_cache WHERE cache_key = %s AND expires_at > now()",
                (key,),
            ).fetchone()
        return None if row is None else row[0]

    def set(self, key: str, value: Any, ttl_s: int) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO analytics_cache (cache_key, value, expires_at)"
                " VALUES (%s, %s, now() + make_interval(secs => %s))"
                " ON CONFLICT (cache_key) DO UPDATE"
                " SET value = excluded.value, expires_at = excluded.expires_at",
                (key, Jsonb(value), ttl_s),
            )
            conn.execute("DELETE FROM analytics_cache WHERE expires_at < now() - interval '1 hour'")

    def ping(self) -> bool:
        with self._pool.connection() as conn:
            conn.execute("SELECT 1")
        return True


class RedisCache:
    name = "redis"

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def get(self, key: str) -> Any | None:
        raw = self._redis.get(key)
        return None if raw is None else json.loads(raw)

    def set(self, key: str, value: Any, ttl_s: int) -> None:
        self._redis.set(key, json.dumps(value, default=str), ex=ttl_s)

    def ping(self) -> bool:
        return bool(self._redis.ping())


class AnalyticsCache:
    """get-or-compute with versioned keys; reports whether the answer was a hit."""

    def __init__(self, backend: CacheBackend, pool: ConnectionPool, ttl_s: int,
                 on_result: Callable[[str, bool], None] | None = None) -> None:
        self.backend = backend
        self._pool = pool
        self._ttl_s = ttl_s
        self._on_result = on_result or (lambda name, hit: None)

    def data_version(self) -> tuple[str, int]:
        """(store id, version): which store, and how many uploads it has completed."""
        with self._pool.connection() as conn:
            row = conn.execute("SELECT store_id, version FROM data_version").fetchone()
        return (str(row[0]), int(row[1])) if row else ("none", 0)

    def key(self, name: str, params: dict[str, Any]) -> str:
        digest = hashlib.sha256(
            json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:32]
        store_id, version = self.data_version()
        return f"dwell:{store_id}:v{version}:{name}:{digest}"

    def get_or_compute(self, name: str, params: dict[str, Any],
                       compute: Callable[[], Any]) -> tuple[Any, bool]:
        key = self.key(name, params)
        try:
            found = self.backend.get(key)
        except Exception as exc:  # a broken cache must never break an answer
            log.warning("cache read failed", extra={"backend": self.backend.name, "error": str(exc)})
            found = None
        if found is not None:
            self._on_result(name, True)
            return found, True
        value = compute()
        try:
            self.backend.set(key, value, self._ttl_s)
        except Exception as exc:
            log.warning("cache write failed", extra={"backend": self.backend.name, "error": str(exc)})
        self._on_result(name, False)
        return value, False
