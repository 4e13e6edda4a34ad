"""Throttling failed authentication, with counters shared through PostgreSQL or Redis.

Three counters move on every failure (never on a success):

* the *pair* (username or client ID, source address): over `pair_failures` in the
  window, that address may not try that account for `penalty_seconds`;
* the *account* (username or client ID, from every address): over
  `account_failures`, the account is under a distributed attack, and each
  address's pair budget drops to one failure. It never blocks by itself, so an
  attacker cannot lock the owner out: the right password from an address
  that has not failed is still checked and accepted;
* the *source* address (any credential): over `source_failures`, the address
  may not authenticate at all for `penalty_seconds`.

Blocks are checked before the credential is verified. API keys and the
client-credentials grant check an in-process cache of blocks, filled from the
database's answer to each failure, so a success costs no database round trip
(another process learns of a block at its own next failure for that key). The
password grant, which costs an argon2 verification anyway, asks the store.

Where the counters live is `service.abuse.stores`' business (PostgreSQL, or Redis
when REDIS_URL is set); the policy here is the same for both. Who hears of a block
that starts is the caller's: `Throttle` hands each to `on_blocks` (the audit trail,
wired in by service.app), on the store's connection when the store is PostgreSQL so
the event commits with the count.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from service.abuse.stores import ThrottleStore, make_store
from service.config import AbuseSettings
from service.errors import ApiError

log = logging.getLogger("service.abuse")

RULE_SOURCE = "source"
PAIR_RULES = {"user": "user_source", "client": "client_source"}
ACCOUNT_RULES = {"user": "user", "client": "client"}

MAX_CACHED_BLOCKS = 100_000


@dataclass(frozen=True)
class Subject:
    """Whose credential failed: a username (as typed) or a client ID."""

    kind: str  # "user" or "client"
    name: str

    @classmethod
    def user(cls, username: str) -> Subject:
        return cls("user", username.lower())

    @classmethod
    def client(cls, client_id: uuid.UUID) -> Subject:
        return cls("client", str(client_id))


def _digest(rule: str, *parts: str) -> bytes:
    # Hashed: a "username" someone typed may well be their password.
    return hashlib.sha256("\x00".join((rule, *parts)).encode("utf-8", "replace")).digest()


def throttled(seconds: float) -> ApiError:
    wait = max(1, math.ceil(seconds))
    return ApiError(429, "too_many_requests",
                    f"Too many failed authentication attempts; try again in {wait} seconds.",
                    headers={"Retry-After": str(wait)})


def store_unavailable() -> ApiError:
    """A login while the throttle's store is away: refused, never unchecked (fail closed)."""
    return ApiError(503, "service_unavailable",
                    "The throttling store does not answer; try again shortly.",
                    headers={"Retry-After": "1"})


@dataclass(frozen=True)
class BlocksStarted:
    """The blocks one failure started: (rule, failures counted, seconds blocked) each, for
    a failure from `source` against `subject` (whose user, when the caller knows it)."""

    blocks: list[tuple[str, int, int]]
    source: str
    subject: Subject | None
    target_user_id: uuid.UUID | None
    target_username: str | None


# Told of every block that starts, on a connection inside the counting's transaction.
OnBlocks = Callable[[asyncpg.Connection, BlocksStarted], Awaitable[None]]


async def _ignore_blocks(conn: asyncpg.Connection, started: BlocksStarted) -> None:
    return None


class BlockCache:
    """(rule, key) -> end of block (Unix time), for the blocks this process has seen."""

    def __init__(self) -> None:
        self._until: dict[tuple[str, bytes], float] = {}

    def __bool__(self) -> bool:
        return bool(self._until)

    @property
    def until(self) -> dict[tuple[str, bytes], float]:
        """The blocks themselves: empty (false) in the usual case, tested per request."""
        return self._until

    def put(self, rule: str, key: bytes, until: float) -> None:
        self._until[(rule, key)] = until
        if len(self._until) > MAX_CACHED_BLOCKS:
            # Many addresses blocked at once: forget the finished blocks.
            now = time.time()
            for old in [k for k, t in self._until.items() if t <= now]:
                del self._until[old]

    def remaining(self, keys: list[tuple[str, bytes]]) -> float | None:
        """Seconds until the last of `keys`' blocks ends, or None when none is blocked."""
        now = time.time()
        worst = None
        for key in keys:
            until = self._until.get(key)
            if until is None:
                continue
            if until <= now:
                del self._until[key]
            elif worst is None or until - now > worst:
                worst = until - now
        return worst


class Throttle:
    """The shared counters and this process's view of current blocks."""

    def __init__(self, settings: AbuseSettings, pool: asyncpg.Pool,
                 store: ThrottleStore | None = None, on_blocks: OnBlocks = _ignore_blocks) -> None:
        self.settings = settings
        self.pool = pool
        self.store = store if store is not None else make_store(settings, pool)
        self.blocks = BlockCache()
        # Blocks of `counted` rules, apart: the front tests `blocks` on every request.
        self.report_blocks = BlockCache()
        self._on_blocks = on_blocks

    async def close(self) -> None:
        await self.store.close()

    def checked_keys(self, source: str, subject: Subject | None) -> list[tuple[str, bytes]]:
        """The keys whose block refuses an attempt: the source, and the pair."""
        keys = [(RULE_SOURCE, _digest(RULE_SOURCE, source))]
        if subject is not None:
            rule = PAIR_RULES[subject.kind]
            keys.append((rule, _digest(rule, subject.name, source)))
        return keys

    def check_local(self, source: str, subject: Subject | None) -> None:
        """Raise 429 if this process knows of a block; no I/O."""
        if not self.settings.throttle_enabled or not self.blocks:
            return
        wait = self.blocks.remaining(self.checked_keys(source, subject))
        if wait is not None:
            raise throttled(wait)

    async def check_shared(self, conn: asyncpg.Connection, source: str,
                           subject: Subject | None) -> None:
        """Raise 429 if any process recorded a block (one read of the store)."""
        if not self.settings.throttle_enabled:
            return
        rows = await self.store.blocked(conn, self.checked_keys(source, subject))
        if rows:
            for rule, key, until in rows:
                self.blocks.put(rule, key, until)
            raise throttled(max(until for _, _, until in rows) - time.time())

    async def counted(self, rule: str, source: str, limit: int, window: int) -> float | None:
        """Count one request of `source` under `rule`, at most `limit` per `window`
        seconds (a fixed window, shared by every process through the store): None while
        within it, else the seconds until the source may ask again."""
        key = _digest(rule, source)
        wait = self.report_blocks.remaining([(rule, key)])
        if wait is not None:
            return wait
        async with self.store.session() as conn:
            # One past the limit starts the block; it lasts what is left of a window.
            _, till, _ = await self.store.fail(conn, rule, key, limit + 1, window=window,
                                               penalty=window)
        if till is None:
            return None
        self.report_blocks.put(rule, key, till)
        return till - time.time()

    async def failed(self, source: str, subject: Subject | None, *,
                     target_user_id: uuid.UUID | None = None,
                     target_username: str | None = None) -> None:
        """Count one failure against the source, the pair and the account.

        Every block this failure starts is remembered locally and handed to `on_blocks`
        (once per block, not once per refused attempt).
        """
        if not self.settings.throttle_enabled:
            return
        s = self.settings
        async with self.store.session() as conn:
            started: list[tuple[str, int, int]] = []
            if subject is not None:
                rule = ACCOUNT_RULES[subject.kind]
                n, _, began = await self.store.fail(conn, rule, _digest(rule, subject.name),
                                                    s.account_failures)
                if began:  # an account is never blocked by itself: 0 seconds
                    started.append((rule, n, 0))
                # An account under attack from many addresses: one failure blocks a pair.
                budget = 1 if n >= s.account_failures else s.pair_failures
                rule = PAIR_RULES[subject.kind]
                key = _digest(rule, subject.name, source)
                n, till, began = await self.store.fail(conn, rule, key, budget)
                if till is not None:
                    self.blocks.put(rule, key, till)
                if began:
                    started.append((rule, n, s.penalty_seconds))
            key = _digest(RULE_SOURCE, source)
            n, till, began = await self.store.fail(conn, RULE_SOURCE, key, s.source_failures)
            if till is not None:
                self.blocks.put(RULE_SOURCE, key, till)
            if began:
                started.append((RULE_SOURCE, n, s.penalty_seconds))
            report = BlocksStarted(started, source, subject, target_user_id, target_username)
            for rule, _, _ in started:
                log.warning("throttling started: rule=%s source=%s", rule, source)
            if started and conn is not None:
                await self._on_blocks(conn, report)
        if started and conn is None:  # the store is not the database: a transaction of its own
            async with self.pool.acquire() as conn, conn.transaction():
                await self._on_blocks(conn, report)
