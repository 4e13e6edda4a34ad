"""Writes committed together: one transaction for the callers that wait.

A caller hands its job to the `GroupWriter` and waits. While a group is being written, the
jobs that arrive queue; when it has committed, the writer takes what queued (up to
`max_rows` rows) and hands it to `write_together(conn, jobs)`, so a commit (and its WAL
flush) is paid per group rather than per caller. A lone job is written at once;
`max_delay` seconds, when set, are waited after an idle spell to gather more.

`write_together` is first called outside a transaction, where it writes what one statement
can (a statement is its own transaction: one round trip, where BEGIN, the statement and
COMMIT take three) and answers AGAIN for the jobs it leaves; those are handed to it again
inside a transaction, where it writes them all. When it raises a database error it has
written nothing, and its jobs are written again in a transaction, each in a savepoint of
its own, so a job that fails fails alone and the others land. Every caller is answered
only after the commit that holds its job.

The writer keeps its pool connection from one group to the next and gives it back after
`HOLD` seconds without work: a connection back in the pool is reset there, a round trip
and some work on both sides, which a busy writer would otherwise pay per group.

Unlike service.batches.BatchWriter (audit rows, written later, lost at worst), nothing here
is answered before it is durable, and nothing is retried on anybody's behalf.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg

from service.errors import DATABASE_UNAVAILABLE

log = logging.getLogger("service.groups")


class Job(Protocol):
    @property
    def rows(self) -> int:
        """How many rows the job writes (what `max_rows` bounds)."""


WriteTogether = Callable[[asyncpg.Connection, list[Any]], Awaitable[list[Any]]]


class _Again:
    def __repr__(self) -> str:
        return "AGAIN"


AGAIN: Any = _Again()  # write_together's answer for a job it leaves to a transaction
HOLD = 1.0  # seconds an idle writer keeps its connection


@dataclass(eq=False)
class Pending:
    job: Any
    future: asyncio.Future = field(repr=False)


class GroupWriter:
    """`await write(job)` returns `write_together`'s result for the job once it is committed,
    or raises what the database raised for this job alone."""

    def __init__(self, pool: asyncpg.Pool, write_together: WriteTogether, *, name: str,
                 max_rows: int, max_delay: float) -> None:
        self._pool = pool
        self._write_together = write_together
        self._name = name
        self._max_rows = max_rows
        self._max_delay = max_delay
        self._queue: deque[Pending] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._conn: asyncpg.Connection | None = None  # held from one group to the next
        self._closing = False
        self.groups = 0  # groups written (for diagnostics and tests)
        self.requests = 0  # jobs written in them

    @property
    def queued(self) -> int:
        """Requests waiting for the next group."""
        return len(self._queue)

    async def write(self, job: Job) -> Any:
        if self._task is None:
            raise RuntimeError(f"the {self._name} writer is not running")
        future = asyncio.get_running_loop().create_future()
        self._queue.append(Pending(job, future))
        self._wake.set()
        return await future

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self._name}-writer")

    async def close(self) -> None:
        """Write what is queued (a group being written is finished, not cancelled), then stop."""
        if self._task is None:
            return
        task, self._task = self._task, None  # new writes are refused from now on
        self._closing = True
        self._wake.set()
        await task

    async def _run(self) -> None:
        try:
            while True:
                if not self._queue:
                    if self._closing:
                        return
                    self._wake.clear()
                    if not await self._woken():
                        await self._release()
                        await self._wake.wait()
                    if self._max_delay and self._queued_rows() < self._max_rows:
                        await asyncio.sleep(self._max_delay)  # gather more
                    continue
                try:
                    await self._write_group(self._take())
                except Exception:  # a bug must not leave every later request waiting for ever
                    log.exception("the %s writer failed a group", self._name)
        finally:
            await self._release()

    async def _woken(self) -> bool:
        """Whether a job came within HOLD seconds."""
        if self._conn is None:
            await self._wake.wait()
            return True
        try:
            async with asyncio.timeout(HOLD):
                await self._wake.wait()
        except TimeoutError:
            return False
        return True

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is not None and not _open(self._conn):  # the server closed it idle
            await self._release()
        if self._conn is None:
            self._conn = await self._pool.acquire()
        return self._conn

    async def _release(self) -> None:
        """The held connection back to the pool, which resets it (or, if it broke, replaces
        it)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._pool.release(conn)

    def _queued_rows(self) -> int:
        return sum(p.job.rows for p in self._queue)

    def _take(self) -> list[Pending]:
        """The queued jobs that fit in one group (at least one), oldest first; those whose
        caller stopped waiting are dropped, unwritten."""
        group: list[Pending] = []
        rows = 0
        while self._queue:
            pending = self._queue[0]
            if group and rows + pending.job.rows > self._max_rows:
                break
            self._queue.popleft()
            if not pending.future.done():
                group.append(pending)
                rows += pending.job.rows
        return group

    async def _write_group(self, group: list[Pending]) -> None:
        if not group:
            return
        try:
            conn = await self._connection()
            jobs = [p.job for p in group]
            results = await self._attempt(conn, jobs, in_transaction=False)
            again = [i for i, result in enumerate(results) if result is AGAIN]
            for pending, result in zip(group, results, strict=True):
                if result is not AGAIN:
                    _settle(pending, result)  # committed already
            if again:
                retried = await self._attempt(conn, [jobs[i] for i in again],
                                              in_transaction=True)
                for i, result in zip(again, retried, strict=True):
                    _settle(group[i], result)
            self.groups += 1
            self.requests += len(group)
        # Below, callers answered already (their futures done) are left as they are, and
        # the connection, in whatever state, goes back to the pool to be reset or replaced.
        except asyncio.CancelledError:
            for pending in group:
                _settle(pending, asyncio.CancelledError())
            await self._release()
            raise
        except Exception as exc:  # the database is away: every caller gets what it would
            for pending in group:
                _settle(pending, exc)
            await self._release()

    async def _attempt(self, conn: asyncpg.Connection, jobs: list[Any], *,
                       in_transaction: bool) -> list[Any]:
        """write_together's results for `jobs`; for each job the error that fails it alone."""
        try:
            if in_transaction:
                async with conn.transaction():
                    return list(await self._write_together(conn, jobs))
            return list(await self._write_together(conn, jobs))
        except DATABASE_UNAVAILABLE:
            raise
        except asyncpg.PostgresError as exc:
            if len(jobs) == 1:
                return [exc]
            return await self._one_by_one(conn, jobs)

    async def _one_by_one(self, conn: asyncpg.Connection, jobs: list[Any]) -> list[Any]:
        """The jobs again, each in a savepoint: one that fails fails alone."""
        results: list[Any] = []
        async with conn.transaction():
            for job in jobs:
                try:
                    async with conn.transaction():
                        results.extend(await self._write_together(conn, [job]))
                except DATABASE_UNAVAILABLE:
                    raise
                except asyncpg.PostgresError as exc:
                    results.append(exc)
        return results


def _open(conn: asyncpg.Connection) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # closed, and so taken back by the pool already
        return False


def _settle(pending: Pending, result: Any) -> None:
    if pending.future.done():  # its caller stopped waiting
        return
    if isinstance(result, asyncio.CancelledError):
        pending.future.cancel()
    elif isinstance(result, BaseException):
        pending.future.set_exception(result)
    else:
        pending.future.set_result(result)
