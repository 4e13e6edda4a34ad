"""Rows written in batches by a background task: bounded in memory, flushed on close.

For writes that must not cost a request its own round trip (the login audit events):
`add` queues a row, a task writes what is queued every `interval` seconds with one
call of `write_many(conn, rows)`, and `close` writes the rest. A batch that fails is
kept for the next try; past `limit` queued rows, new ones are dropped (and counted)
rather than let memory grow while the database is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import asyncpg

log = logging.getLogger("service.batches")

Row = TypeVar("Row")
_TRANSIENT = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


class BatchWriter(Generic[Row]):
    def __init__(self, pool: asyncpg.Pool,
                 write_many: Callable[[asyncpg.Connection, list[Row]], Awaitable[object]], *,
                 name: str, interval: float, limit: int) -> None:
        self._pool = pool
        self._write_many = write_many
        self._name = name
        self._interval = interval
        self._limit = limit
        self._rows: list[Row] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self.dropped = 0

    def add(self, row: Row) -> None:
        if len(self._rows) >= self._limit:
            # The database is away or far behind: drop rather than grow without bound.
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("%s buffer full; %d rows dropped so far", self._name, self.dropped)
            return
        self._rows.append(row)

    async def flush(self) -> None:
        """Write what is queued; on a database error keep it for the next try."""
        async with self._lock:
            if not self._rows:
                return
            batch, self._rows = self._rows, []
            try:
                async with self._pool.acquire() as conn:
                    await self._write_many(conn, batch)
            except BaseException:
                self._rows[:0] = batch
                raise

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except _TRANSIENT as exc:
                log.warning("%s flush failed (%s); will retry", self._name, type(exc).__name__)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self._name}-flush")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.flush()
        except _TRANSIENT as exc:
            log.warning("%s rows lost at shutdown (%s): %d", self._name, type(exc).__name__,
                        len(self._rows))
