"""Where the throttle's counters and blocks live: PostgreSQL, or Redis when REDIS_URL is set.

Both stores answer the same two questions for `Throttle` (which owns the policy):
`fail` counts one failure of a (rule, key) against a budget and says whether a
block is on, and `blocked` lists the current blocks among some keys. Times are
Unix seconds, so the policy never sees a backend's types.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple, Protocol

import asyncpg

from service.config import AbuseSettings

log = logging.getLogger("service.abuse")

FAIL = """
SELECT failures_now, blocked_till, block_started FROM auth_throttle_fail($1, $2, $3, $4, $5)
"""
BLOCKED = """
SELECT rule, key, blocked_until FROM auth_throttle
WHERE (rule, key) IN (SELECT * FROM unnest($1::text[], $2::bytea[])) AND blocked_until > now()
"""
PURGE = "DELETE FROM auth_throttle WHERE expires_at < now()"
PURGE_EVERY_SECONDS = 60.0

# A Redis that does not answer within this long counts as down (never a hang).
REDIS_TIMEOUT_SECONDS = 2.0

# KEYS: counter, block. ARGV: budget, window ms, penalty ms.
# The counter's TTL is the window (set by the failure that opens it), the block's the
# penalty: Redis forgets both by itself. Same rules as auth_throttle_fail() in 0004.
REDIS_FAIL = """
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local left = redis.call('PTTL', KEYS[2])
local started = 0
if left <= 0 and n >= tonumber(ARGV[1]) then
    redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
    left = tonumber(ARGV[3])
    started = 1
end
return {n, left, started}
"""


class Counted(NamedTuple):
    """One failure counted: failures in the window, end of the block, and whether it began."""

    failures: int
    blocked_till: float | None
    started: bool


class ThrottleStoreUnavailable(ConnectionError):
    """The store does not answer; an OSError, so it is handled like a database outage."""


class ThrottleStore(Protocol):
    """What `Throttle` needs from the place its state lives."""

    def session(self) -> Any:
        """Async context manager around one failure's counting; yields a connection
        (PostgreSQL, the audit rides in its transaction) or None (Redis)."""

    async def fail(self, conn: Any, rule: str, key: bytes, budget: int, *,
                   window: int | None = None, penalty: int | None = None) -> Counted:
        """`window` and `penalty` (seconds) default to the failure throttle's."""

    async def blocked(self, conn: Any,
                      keys: list[tuple[str, bytes]]) -> list[tuple[str, bytes, float]]: ...

    async def close(self) -> None: ...


class PgStore:
    """Counters in the auth_throttle table (migration 0004), purged now and then."""

    def __init__(self, settings: AbuseSettings, pool: asyncpg.Pool) -> None:
        self.settings = settings
        self.pool = pool
        self._last_purge = 0.0

    @asynccontextmanager
    async def session(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn
            # Counters of finished windows are dead weight; clear them now and then.
            now = time.monotonic()
            if now - self._last_purge >= PURGE_EVERY_SECONDS:
                self._last_purge = now
                await conn.execute(PURGE)

    async def fail(self, conn: asyncpg.Connection, rule: str, key: bytes, budget: int, *,
                   window: int | None = None, penalty: int | None = None) -> Counted:
        row = await conn.fetchrow(FAIL, rule, key, budget, window or self.settings.window_seconds,
                                  penalty or self.settings.penalty_seconds)
        till = row["blocked_till"]
        return Counted(row["failures_now"], till.timestamp() if till is not None else None,
                       row["block_started"])

    async def blocked(self, conn: asyncpg.Connection,
                      keys: list[tuple[str, bytes]]) -> list[tuple[str, bytes, float]]:
        rows = await conn.fetch(BLOCKED, [k[0] for k in keys], [k[1] for k in keys])
        return [(r["rule"], bytes(r["key"]), r["blocked_until"].timestamp()) for r in rows]

    async def close(self) -> None:
        pass  # the pool belongs to the app


def redis_client(settings: AbuseSettings, timeout: float) -> tuple[Any, tuple[type, ...]]:
    """A client of REDIS_URL giving up after `timeout` seconds, and the exceptions that
    mean Redis does not answer."""
    try:
        import redis.asyncio as aioredis
        from redis import exceptions
    except ImportError:  # pragma: no cover - depends on the install
        raise RuntimeError("REDIS_URL is set but the redis package is not installed; "
                           "install the 'redis' extra (pip install 'mrsm-tokens[redis]')"
                           ) from None
    client = aioredis.from_url(settings.redis_url, socket_timeout=timeout,
                               socket_connect_timeout=timeout)
    return client, (exceptions.ConnectionError, exceptions.TimeoutError, OSError)


class RedisStore:
    """Counters as Redis keys `<prefix>{<rule>:<key hex>}:n` (and `:b` for the block),
    each with a TTL, so nothing needs cleaning. Remaining times come from PTTL, so the
    clocks of Redis and of this host need not agree."""

    def __init__(self, settings: AbuseSettings) -> None:
        self.settings = settings
        self.client, self._errors = redis_client(settings, REDIS_TIMEOUT_SECONDS)
        self._script = self.client.register_script(REDIS_FAIL)
        self._down = False

    def _name(self, rule: str, key: bytes, what: str) -> str:
        # The braces make both keys of a counter share a cluster hash slot.
        return f"{self.settings.redis_prefix}{{{rule}:{key.hex()}}}:{what}"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        yield None

    async def _call(self, coro: Any) -> Any:
        try:
            result = await coro
        except self._errors as exc:
            if not self._down:  # one warning per outage, not one per request
                self._down = True
                log.warning("redis unavailable for throttling: %s", type(exc).__name__)
            raise ThrottleStoreUnavailable("redis does not answer") from exc
        if self._down:
            self._down = False
            log.warning("redis answers again for throttling")
        return result

    async def fail(self, conn: None, rule: str, key: bytes, budget: int, *,
                   window: int | None = None, penalty: int | None = None) -> Counted:
        s = self.settings
        window, penalty = window or s.window_seconds, penalty or s.penalty_seconds
        n, left, started = await self._call(self._script(
            keys=[self._name(rule, key, "n"), self._name(rule, key, "b")],
            args=[budget, window * 1000, penalty * 1000]))
        till = time.time() + int(left) / 1000 if int(left) > 0 else None
        return Counted(int(n), till, bool(started))

    async def blocked(self, conn: None,
                      keys: list[tuple[str, bytes]]) -> list[tuple[str, bytes, float]]:
        pipe = self.client.pipeline(transaction=False)
        for rule, key in keys:
            pipe.pttl(self._name(rule, key, "b"))
        left = await self._call(pipe.execute())
        now = time.time()
        return [(rule, key, now + ms / 1000) for (rule, key), ms in zip(keys, left, strict=True)
                if ms > 0]

    async def close(self) -> None:
        await self.client.aclose()


def make_store(settings: AbuseSettings, pool: asyncpg.Pool) -> ThrottleStore:
    """Redis when REDIS_URL is set, else PostgreSQL."""
    return RedisStore(settings) if settings.redis_url else PgStore(settings, pool)
