"""Last-used times without a write per request: coalesced in memory, flushed in one statement."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime

import asyncpg

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
        self._pending: dict[uuid.UUID, float] = {}
        self._task: asyncio.Task | None = None

    def touch(self, token_id: uuid.UUID, now: float) -> None:
        self._pending[token_id] = now

    async def flush(self) -> int:
        if not self._pending:
            return 0
        pending, self._pending = self._pending, {}
        ids = list(pending)
        times = [datetime.fromtimestamp(pending[i], UTC) for i in ids]
        try:
            async with self._pool.acquire(timeout=5) as conn:
                await conn.execute(FLUSH, ids, times)
        except Exception as exc:
            # Keep what we could not write (newer touches win) and try again next time.
            for token_id, ts in pending.items():
                self._pending.setdefault(token_id, ts)
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
