"""Last-used times without a write per request: coalesced in memory, flushed in one statement."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime

import asyncpg

from service.auth.principal import Principal

log = logging.getLogger("service.auth.lastused")

FLUSH = """
UPDATE tokens AS t SET last_used_at = v.used_at
FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, used_at)
WHERE t.id = v.id AND (t.last_used_at IS NULL OR t.last_used_at < v.used_at)
"""


class LastUsedTracker:
    """Remembers the latest use of each token; writes them all at most every `interval` s."""

    def __init__(self, pool: asyncpg.Pool, interval: float) -> None:
        self._pool = pool
        self._interval = interval
        # By principal, hashed by identity: a UUID's hash is a Python call, and this runs on
        # every request. A token's several principals (API key, JWTs) meet at the flush.
        self._pending: dict[Principal, float] = {}
        self._task: asyncio.Task | None = None

    def touch(self, principal: Principal, now: float) -> None:
        """`principal`, a token's, was used at `now`."""
        self._pending[principal] = now

    async def flush(self) -> int:
        if not self._pending:
            return 0
        pending, self._pending = self._pending, {}
        latest: dict[uuid.UUID, float] = {}
        for principal, ts in pending.items():
            token_id = principal.token_id
            if ts > latest.get(token_id, 0.0):
                latest[token_id] = ts
        ids = list(latest)
        times = [datetime.fromtimestamp(latest[i], UTC) for i in ids]
        try:
            async with self._pool.acquire(timeout=5) as conn:
                await conn.execute(FLUSH, ids, times)
        except Exception as exc:
            # Keep what we could not write (newer touches win) and try again next time.
            for principal, ts in pending.items():
                self._pending.setdefault(principal, ts)
            log.warning("could not flush last-used times (%s)", type(exc).__name__)
            return 0
        return len(ids)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="last-used-flush")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
