"""Concurrent writes committed together (service/pipes/ingest.py), each request keeping its
contract: its rows all or none, its own counts, the later arrival winning, failing alone.

To make a group for certain, a first write is held on a row lock taken by the test: the
writer waits on it, the requests sent meanwhile queue, and once the lock goes they are
written in one transaction (their rows share one xmin).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from service import keys
from service.app import create_app
from service.pipes.ingest import Pending
from service.pipes.rows import NO_ROWS
from tests.support.pipes import DATA, PIPE, error_of, hourly

OTHER = "/pipes/sql:main/humidity/lab.1"
DEADLINE = 20  # seconds; polls end as soon as what they wait for is seen


async def until(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


class Holder:
    """Holds the writer on a row lock: `hold()` starts a write that waits on it, `send()`
    queues requests behind it one by one (in this order), `release()` lets all go."""

    def __init__(self, client, headers, database_url: str) -> None:
        self.client, self.headers, self.dsn = client, headers, database_url
        self.writer = client.app[keys.INGEST]
        self.lock: asyncpg.Connection | None = None
        self.tasks: list[asyncio.Task] = []

    async def hold(self) -> asyncio.Task:
        resp = await self.client.post(DATA, headers=self.headers, json=hourly(1, v=0))
        assert resp.status == 200, await resp.text()
        self.lock = await asyncpg.connect(self.dsn)
        await self.lock.execute("BEGIN")
        await self.lock.execute("SELECT FROM pipe_rows FOR UPDATE")
        held = asyncio.create_task(self.post(DATA, hourly(1, v="held")))

        async def waiting() -> bool:
            return bool(await self.lock.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"))

        await until(waiting, "the held write to wait on the lock")
        return held

    async def post(self, path: str, rows, **params):
        resp = await self.client.post(path, headers=self.headers, json=rows, params=params)
        return resp.status, await resp.json()

    async def send(self, path: str, rows, **params) -> asyncio.Task:
        before = self.writer.queued
        task = asyncio.create_task(self.post(path, rows, **params))
        self.tasks.append(task)

        async def queued() -> bool:
            return self.writer.queued > before

        await until(queued, "the request to queue")
        return task

    async def release(self) -> list[tuple[int, dict]]:
        await self.lock.execute("ROLLBACK")
        return [await task for task in self.tasks]

    async def close(self) -> None:
        if self.lock is not None:
            await self.lock.close()


@pytest.fixture
async def holder(client, owner_headers, pipe, database_url) -> AsyncIterator[Holder]:
    resp = await client.post("/pipes", headers=owner_headers, json={
        "connector_keys": "sql:main", "metric_key": "humidity", "location_key": "lab.1"})
    assert resp.status == 201
    h = Holder(client, owner_headers, database_url)
    yield h
    await h.close()


async def xmins(database_url: str) -> dict[tuple[str, str], str]:
    """(metric_key, hour) -> the transaction that wrote the row."""
    conn = await asyncpg.connect(database_url)
    try:
        return {(r["metric_key"], r["ts"].strftime("%H")): r["xmin"] for r in await conn.fetch(
            "SELECT p.metric_key, r.ts, r.xmin::text FROM pipe_rows r "
            "JOIN pipes p ON p.id = r.pipe_id")}
    finally:
        await conn.close()


async def values_of(client, headers, path: str) -> dict[str, object]:
    resp = await client.get(path + "/data", headers=headers)
    return {row["timestamp"][11:13]: row["v"] for row in (await resp.json())["items"]}


async def test_waiting_requests_are_one_transaction_each_with_its_own_counts(
        client, owner_headers, holder, database_url):
    held = await holder.hold()
    await holder.send(DATA, hourly(2, start=1, v="b"))  # hours 1, 2: new
    await holder.send(DATA, hourly(2, start=2, v="c"))  # hour 2 again (after b), hour 3 new
    await holder.send(OTHER + "/data", [*hourly(1, start=5, v="x"), *hourly(1, start=5, v="d")])
    await holder.send("/pipes/sql:main/pressure/-/data", hourly(1, v="e"), create="true")
    await holder.send("/pipes/sql:main/nowhere/-/data", hourly(1, v="f"))  # no such pipe
    b, c, d, e, f = await holder.release()
    assert await held == (200, {"inserted": 0, "updated": 1})
    assert b == (200, {"inserted": 2, "updated": 0})
    assert c == (200, {"inserted": 1, "updated": 1})  # hour 2 was b's: replaced
    assert d == (200, {"inserted": 1, "updated": 0})  # within a request the last row wins
    assert e == (200, {"inserted": 1, "updated": 0})  # its pipe registered in the group
    assert f[0] == 404 and f[1]["error"] == "not_found"
    assert await values_of(client, owner_headers, PIPE) == {
        "00": "held", "01": "b", "02": "c", "03": "c"}
    assert await values_of(client, owner_headers, OTHER) == {"05": "d"}
    written = await xmins(database_url)
    group = {written[k] for k in [("temperature", "01"), ("temperature", "02"),
                                  ("temperature", "03"), ("humidity", "05")]}
    assert len(group) == 1, written  # the rows of existing pipes: one transaction
    # The pipe registered by the group, and its rows, in a transaction after that one.
    assert written["pressure", "00"] not in group
    assert int(written["pressure", "00"]) > int(next(iter(group)))
    assert written["temperature", "00"] not in group  # the held write was its own


async def test_a_request_of_a_pipe_created_later_in_the_group_still_404s(
        client, owner_headers, holder):
    """As if written one after the other: before the creating request the pipe was not."""
    await holder.hold()
    path = "/pipes/sql:main/wind/-/data"
    await holder.send(path, hourly(1, v="before"))
    await holder.send(path, hourly(1, start=1, v="creator"), create="true")
    await holder.send(path, hourly(1, start=1, v="after"))
    before, creator, after = await holder.release()
    assert before[0] == 404
    assert creator == (200, {"inserted": 1, "updated": 0})
    assert after == (200, {"inserted": 0, "updated": 1})
    assert await values_of(client, owner_headers, path.removesuffix("/data")) == {"01": "after"}


async def test_a_pipe_deleted_while_its_request_waits_fails_that_request_alone(
        client, owner_headers, holder):
    await holder.hold()
    await holder.send(DATA, hourly(1, start=1, v="kept"))
    await holder.send(OTHER + "/data", hourly(1, v="gone"))
    resp = await client.delete(OTHER, headers=owner_headers)
    assert resp.status == 204
    kept, gone = await holder.release()
    assert kept == (200, {"inserted": 1, "updated": 0})
    assert gone[0] == 404
    assert await values_of(client, owner_headers, PIPE) == {"00": "held", "01": "kept"}


async def test_a_request_the_database_refuses_fails_alone_and_the_others_land(
        client, owner_headers, holder, database_url):
    conn = await asyncpg.connect(database_url)
    await conn.execute('ALTER TABLE pipe_rows ADD CONSTRAINT test_refused '
                       'CHECK (NOT "values" ? \'refuse\')')
    try:
        await holder.hold()
        await holder.send(DATA, hourly(1, start=1, v="first"))
        # A good row and a refused one: neither may land.
        await holder.send(DATA, [*hourly(1, start=2, v="bad"), *hourly(1, start=3, refuse=1)])
        await holder.send(DATA, hourly(2, start=1, v="last"))
        first, refused, last = await holder.release()
    finally:
        await conn.execute("ALTER TABLE pipe_rows DROP CONSTRAINT test_refused")
        await conn.close()
    assert first == (200, {"inserted": 1, "updated": 0})
    assert refused[0] == 422 and refused[1]["error"] == "validation_error"
    assert last == (200, {"inserted": 1, "updated": 1})  # hour 2 is new: the refused one's is not
    assert await values_of(client, owner_headers, PIPE) == {"00": "held", "01": "last",
                                                           "02": "last"}


async def test_a_refused_request_alone_is_422_and_writes_nothing(client, owner_headers, pipe,
                                                                 database_url):
    conn = await asyncpg.connect(database_url)
    await conn.execute('ALTER TABLE pipe_rows ADD CONSTRAINT test_refused '
                       'CHECK (NOT "values" ? \'refuse\')')
    try:
        resp = await client.post(DATA, headers=owner_headers,
                                 json=[*hourly(1), *hourly(1, start=1, refuse=1)])
    finally:
        await conn.execute("ALTER TABLE pipe_rows DROP CONSTRAINT test_refused")
        await conn.close()
    body = await error_of(resp, 422)
    assert "nothing was written" in body["error_description"]
    assert await values_of(client, owner_headers, PIPE) == {}


async def test_a_group_holds_at_most_ingest_max_rows(aiohttp_client, make_settings,
                                                     owner_headers, database_url, api):
    client = await aiohttp_client(create_app(make_settings(ingest_max_rows=3)))
    resp = await client.post("/pipes", headers=owner_headers, json={
        "connector_keys": "sql:main", "metric_key": "temperature", "location_key": "lab.1"})
    assert resp.status == 201
    holder = Holder(client, owner_headers, database_url)
    try:
        await holder.hold()
        await holder.send(DATA, hourly(2, start=1))
        await holder.send(DATA, hourly(2, start=3))  # 4 rows with the first: a group of its own
        await holder.send(DATA, hourly(1, start=5))
        results = await holder.release()
    finally:
        await holder.close()
    assert [status for status, _ in results] == [200, 200, 200]
    written = await xmins(database_url)
    assert written["temperature", "01"] != written["temperature", "03"]
    assert written["temperature", "03"] == written["temperature", "05"]


async def test_a_row_inserted_by_another_transaction_meanwhile_is_replaced_and_counted(
        client, owner_headers, pipe, database_url):
    """The write waits on a row another transaction is inserting; once that commits, the
    write's statement finds the row neither new nor old, is rolled back whole, and the rows
    are written again in a transaction: the row replaced and counted as updated."""
    other = await asyncpg.connect(database_url)
    try:
        await other.execute("BEGIN")
        await other.execute(
            'INSERT INTO pipe_rows (pipe_id, ts, "values") SELECT id, $1, \'{"v": "other"}\' '
            "FROM pipes", datetime(2024, 1, 1, tzinfo=UTC))
        write = asyncio.create_task(client.post(DATA, headers=owner_headers,
                                                json=hourly(2, v="mine")))

        async def waiting() -> bool:
            return bool(await other.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"))

        await until(waiting, "the write to wait on the other insert")
        await other.execute("COMMIT")
        resp = await write
    finally:
        await other.close()
    assert resp.status == 200
    assert await resp.json() == {"inserted": 1, "updated": 1}
    assert await values_of(client, owner_headers, PIPE) == {"00": "mine", "01": "mine"}
    written = await xmins(database_url)
    # Both rows in one transaction: the new one was not committed ahead of the other.
    assert written["temperature", "00"] == written["temperature", "01"]


async def test_the_writer_keeps_its_connection_while_busy_and_gives_it_back_idle(
        client, owner_headers, pipe):
    pool = client.app[keys.POOL]
    resp = await client.post(DATA, headers=owner_headers, json=hourly(1))
    assert resp.status == 200
    idle = pool.get_idle_size()
    resp = await client.post(DATA, headers=owner_headers, json=hourly(1, start=1))
    assert resp.status == 200
    assert pool.get_idle_size() == idle  # the same connection again, not another

    async def given_back() -> bool:
        return pool.get_idle_size() == idle + 1

    await until(given_back, "the writer to give its connection back")


async def test_a_held_connection_the_server_closed_is_replaced(client, owner_headers, pipe,
                                                               database_url):
    resp = await client.post(DATA, headers=owner_headers, json=hourly(1))
    assert resp.status == 200
    conn = await asyncpg.connect(database_url)
    try:  # every other session of this database, the writer's among them
        ended = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    finally:
        await conn.close()
    assert ended >= 1
    await asyncio.sleep(0.2)  # the closed sockets seen by the event loop
    resp = await client.post(DATA, headers=owner_headers, json=hourly(1, start=1))
    assert resp.status == 200, await resp.text()
    assert await values_of(client, owner_headers, PIPE) == {"00": 0, "01": 1}


async def test_sequential_writes_are_written_one_group_each(client, owner_headers, pipe):
    writer = client.app[keys.INGEST]
    groups = writer.groups
    for hour in range(3):
        resp = await client.post(DATA, headers=owner_headers, json=hourly(1, start=hour))
        assert resp.status == 200
    assert writer.groups - groups == 3  # nothing waits for company when idle


async def test_closing_the_writer_writes_what_waits_first(client, owner_headers, holder):
    """At shutdown the group being written is finished and the queued requests written,
    before the writer stops (and before the pool closes after it)."""
    held = await holder.hold()
    await holder.send(DATA, hourly(1, start=1, v="queued"))
    closing = asyncio.create_task(holder.writer.close())
    await asyncio.sleep(0)  # let close() begin while the group is held
    assert not closing.done()
    [queued] = await holder.release()
    await closing
    assert await held == (200, {"inserted": 0, "updated": 1})
    assert queued == (200, {"inserted": 1, "updated": 0})
    with pytest.raises(RuntimeError, match="not running"):
        await holder.writer.write(Pending(("sql:main", "temperature", "lab.1"), NO_ROWS,
                                          create=False))
