"""Concurrent writes of rows committed together: one transaction for the requests that wait.

A request hands its rows to the process's `GroupWriter` and waits. While a group is being
written, the requests that arrive queue; when it has committed, the writer takes what queued
(up to `max_rows` rows) and writes it in one transaction, so a commit (and its WAL flush)
is paid per group rather than per request. A lone request is written at once; `max_delay`
seconds, when set, are waited after the first request to gather more.

Each request keeps its contract as if written alone, one after the other in arrival order:
all its rows or none; its own inserted and updated counts (a row that an earlier request of
the group inserted is one this request replaced); a later request's row wins. A request
whose write fails (its pipe deleted meanwhile, a row the database refuses) fails alone:
the group is written again with each request in a savepoint of its own, and the others land.
Every answer waits for the commit that holds its rows.

Unlike service.batches.BatchWriter (audit rows, written later, lost at worst), nothing here
is answered before it is durable, and nothing is retried on anybody's behalf.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from service.errors import DATABASE_UNAVAILABLE
from service.pipes import repo
from service.pipes.repo import Keys

log = logging.getLogger("service.pipes.ingest")
Written = tuple[int, int] | None  # (inserted, updated), or None: no such pipe


@dataclass(eq=False)
class Pending:
    """One request's write: distinct timestamps in order, values as JSON text."""

    keys: Keys
    timestamps: list[datetime]
    values: list[str]
    create: bool
    future: asyncio.Future = field(repr=False)


async def write_together(conn: asyncpg.Connection, group: list[Pending]) -> list[Written]:
    """Write the group's rows (in the caller's transaction); per request what it wrote."""
    results: list[Written] = [None] * len(group)
    await _write(conn, group, list(range(len(group))), results)
    # A pipe that does not exist is registered by the first request that asks for it; the
    # requests from that one on write to it, those before it did not find it.
    first_creator: dict[Keys, int] = {}
    for index, pending in enumerate(group):
        if results[index] is None and pending.create:
            first_creator.setdefault(pending.keys, index)
    if first_creator:
        await repo.create_pipes(conn, list(first_creator))
        again = [i for i, p in enumerate(group)
                 if results[i] is None and i >= first_creator.get(p.keys, len(group))]
        await _write(conn, group, again, results)
    return results


async def _write(conn: asyncpg.Connection, group: list[Pending], members: list[int],
                 results: list[Written]) -> None:
    """Write the rows of group[i] for i in `members`, filling results[i]."""
    pipes: dict[Keys, int] = {}
    # (pipe slot, timestamp) -> row index; and per row the members that wrote it, in order.
    rows: dict[tuple[int, datetime], int] = {}
    writers: list[list[int]] = []
    slots: list[int] = []
    stamps: list[datetime] = []
    texts: list[str] = []
    for i in members:
        pending = group[i]
        slot = pipes.setdefault(pending.keys, len(pipes))
        for ts, text in zip(pending.timestamps, pending.values, strict=True):
            k = rows.get((slot, ts))
            if k is None:
                rows[slot, ts] = len(stamps)
                writers.append([i])
                slots.append(slot)
                stamps.append(ts)
                texts.append(text)
            else:
                writers[k].append(i)
                texts[k] = text  # the later arrival wins
    found, outcome = await repo.write_rows(conn, list(pipes), slots, stamps, texts)
    counts = {i: [0, 0] for i in members if pipes[group[i].keys] in found}
    for fresh, who in zip(outcome, writers, strict=True):
        if fresh is None:
            continue
        # The first writer of a new row inserted it; every later one replaced it.
        counts[who[0]][0 if fresh else 1] += 1
        for i in who[1:]:
            counts[i][1] += 1
    for i, (inserted, updated) in counts.items():
        results[i] = (inserted, updated)


class GroupWriter:
    """The process's writer of rows: `await write(...)` returns once the rows are committed."""

    def __init__(self, pool: asyncpg.Pool, *, max_rows: int, max_delay: float) -> None:
        self._pool = pool
        self._max_rows = max_rows
        self._max_delay = max_delay
        self._queue: deque[Pending] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False
        self.groups = 0  # transactions written (for diagnostics and tests)
        self.requests = 0  # requests written in them

    @property
    def queued(self) -> int:
        """Requests waiting for the next group."""
        return len(self._queue)

    async def write(self, keys: Keys, timestamps: list[datetime], values: list[str], *,
                    create: bool) -> Written:
        """Write one request's rows (distinct timestamps, values as JSON object text) with
        the others waiting; (inserted, updated) once committed, None when there is no such
        pipe (and not `create`), or what the database raised for this request alone."""
        if self._task is None:
            raise RuntimeError("the group writer is not running")
        future = asyncio.get_running_loop().create_future()
        self._queue.append(Pending(keys, timestamps, values, create, future))
        self._wake.set()
        return await future

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pipe-rows-writer")

    async def close(self) -> None:
        """Write what is queued (a group being written is finished, not cancelled), then stop."""
        if self._task is None:
            return
        task, self._task = self._task, None  # new writes are refused from now on
        self._closing = True
        self._wake.set()
        await task

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                if self._max_delay and self._queued_rows() < self._max_rows:
                    await asyncio.sleep(self._max_delay)  # gather more
                continue
            try:
                await self._write_group(self._take())
            except Exception:  # a bug must not leave every later request waiting for ever
                log.exception("the writer of pipe rows failed a group")

    def _queued_rows(self) -> int:
        return sum(len(p.timestamps) for p in self._queue)

    def _take(self) -> list[Pending]:
        """The queued requests that fit in one group (at least one), oldest first; those
        whose caller stopped waiting are dropped, unwritten."""
        group: list[Pending] = []
        rows = 0
        while self._queue:
            pending = self._queue[0]
            if group and rows + len(pending.timestamps) > self._max_rows:
                break
            self._queue.popleft()
            if not pending.future.done():
                group.append(pending)
                rows += len(pending.timestamps)
        return group

    async def _write_group(self, group: list[Pending]) -> None:
        if not group:
            return
        try:
            async with self._pool.acquire() as conn:
                try:
                    async with conn.transaction():
                        results: list[Written | BaseException] = list(
                            await write_together(conn, group))
                except DATABASE_UNAVAILABLE:
                    raise
                except asyncpg.PostgresError as exc:
                    if len(group) == 1:
                        results = [exc]
                    else:
                        results = await self._one_by_one(conn, group)
        except asyncio.CancelledError:
            for pending in group:
                _settle(pending, asyncio.CancelledError())
            raise
        except Exception as exc:  # the database is away: every request gets what it would
            for pending in group:
                _settle(pending, exc)
            return
        self.groups += 1
        self.requests += len(group)
        for pending, result in zip(group, results, strict=True):
            _settle(pending, result)

    @staticmethod
    async def _one_by_one(conn: asyncpg.Connection,
                          group: list[Pending]) -> list[Written | BaseException]:
        """The group again, each request in a savepoint: one that fails fails alone."""
        results: list[Written | BaseException] = []
        async with conn.transaction():
            for pending in group:
                try:
                    async with conn.transaction():
                        results.extend(await write_together(conn, [pending]))
                except DATABASE_UNAVAILABLE:
                    raise
                except asyncpg.PostgresError as exc:
                    results.append(exc)
        return results


def _settle(pending: Pending, result: Written | BaseException) -> None:
    if pending.future.done():  # its caller stopped waiting
        return
    if isinstance(result, asyncio.CancelledError):
        pending.future.cancel()
    elif isinstance(result, BaseException):
        pending.future.set_exception(result)
    else:
        pending.future.set_result(result)
