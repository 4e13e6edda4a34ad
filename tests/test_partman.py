"""docs/partitioning.md's pg_partman commands, run as the page gives them, on the service's
schema with rows of 40 months: every row kept in the partition of its month, the service's
writes landing in the partitions of their times (1970 in the default one), and the retention
dropping what is past 24 months.

pg_partman is Debian's postgresql-15-partman (.ci/run installs it); the database is one of
this test's own on a server with the system's PostgreSQL, where the extension is found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import pytest

from service.app import create_app
from service.config import PROJECT_ROOT
from tests.support.api import Api
from tests.support.db import migrated, scratch_database, settings_for

PAGE = PROJECT_ROOT / "docs" / "partitioning.md"
MONTHS = 40


def sql_blocks() -> list[str]:
    """The page's SQL blocks, in order, from its pg_partman section."""
    text = PAGE.read_text()
    section = text[text.index("## PostgreSQL partitions managed by pg_partman"):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(r"```sql\n(.*?)```", section, re.S)


def statements(block: str) -> list[str]:
    """A block's statements, each sent on its own as psql sends them (a procedure that
    commits, such as run_maintenance_proc, cannot run inside a multi-statement query)."""
    text = re.sub(r"--[^\n]*", "", block)
    return [part.strip() for part in re.split(r";\s*\n", text) if part.strip()]


async def run(conn: asyncpg.Connection, block: str) -> None:
    for statement in statements(block):
        await conn.execute(statement)


def months_back(now: datetime, count: int) -> datetime:
    month = now.year * 12 + now.month - 1 - count
    return datetime(month // 12, month % 12 + 1, 15, 12, tzinfo=UTC)


@pytest.fixture
def partman_database(tcp_server_dsn: str) -> Iterator[str]:
    with scratch_database(tcp_server_dsn, "mrsm_partman", migrated) as dsn:
        yield dsn


async def partition_of(conn: asyncpg.Connection, ts: datetime) -> str:
    return await conn.fetchval(
        "SELECT tableoid::regclass::text FROM pipe_rows WHERE ts = $1", ts)


async def test_the_pages_commands_partition_retain_and_the_service_writes(
        partman_database, aiohttp_client):
    setup, retention = sql_blocks()
    now = datetime.now(UTC)
    old = [months_back(now, n) for n in range(MONTHS, -1, -1)]  # 40 months ago to this one
    conn = await asyncpg.connect(partman_database)
    try:
        pipe_id = await conn.fetchval(
            "INSERT INTO pipes (connector_keys, metric_key, location_key, parameters) "
            "VALUES ('mqtt:garden', 'temperature', NULL, '{}') RETURNING id")
        await conn.executemany(
            'INSERT INTO pipe_rows (pipe_id, ts, "values") VALUES ($1, $2, \'{"v": 1}\')',
            [(pipe_id, ts) for ts in old])

        await run(conn, setup)

        assert await conn.fetchval("SELECT count(*) FROM pipe_rows") == len(old)
        for ts in old:  # each row in its month's partition
            assert await partition_of(conn, ts) == f"pipe_rows_p{ts:%Y_%m}", ts
        assert await conn.fetchval(
            "SELECT relkind::text FROM pg_class WHERE relname = 'pipe_rows'") == "p"
    finally:
        await conn.close()

    settings = settings_for(partman_database)
    client = await aiohttp_client(create_app(settings))
    api = Api(client, settings)
    headers = await api.admin_headers()
    data = "/pipes/mqtt:garden/temperature/-/data"
    rows = [{"timestamp": f"{now:%Y-%m-%d}T00:00:00Z", "v": "today"},
            {"timestamp": "1970-01-01T00:00:00Z", "v": "a wrong clock"}]
    resp = await client.post(data, headers=headers, json=rows)
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"inserted": 2, "updated": 0}
    resp = await client.post(data, headers=headers, json=rows[:1])  # written again
    assert await resp.json() == {"inserted": 0, "updated": 1}
    conn = await asyncpg.connect(partman_database)
    try:
        today = datetime(now.year, now.month, now.day, tzinfo=UTC)
        assert await partition_of(conn, today) == f"pipe_rows_p{now:%Y_%m}"
        assert await partition_of(conn, datetime(1970, 1, 1, tzinfo=UTC)) == "pipe_rows_default"

        await run(conn, retention)

        kept = {r["ts"] for r in await conn.fetch("SELECT ts FROM pipe_rows")}
        # Partitions wholly older than 24 months are gone, with their rows; the rest stay.
        assert {ts for ts in old if months_back(now, 24) < ts} <= kept
        assert not {ts for ts in old if ts < months_back(now, 25)} & kept
        assert today in kept
        ahead = await conn.fetchval(
            "SELECT count(*) FROM partman.show_partitions('public.pipe_rows') "
            "WHERE partition_tablename > $1", f"pipe_rows_p{now:%Y_%m}")
        assert ahead >= 4  # p_premake: months made ahead
    finally:
        await conn.close()

