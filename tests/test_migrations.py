"""Migrations: every file goes up, down and up again; concurrent starts are serialised."""

import asyncio
import secrets

import asyncpg
import pytest

from service.config import PROJECT_ROOT
from service.db import load_migrations, migrate, rollback
from tests.support.db import create_database, drop_database, with_database

MIGRATIONS = PROJECT_ROOT / "migrations"


@pytest.fixture
async def scratch_dsn(server_dsn):
    name = f"mrsm_stairway_{secrets.token_hex(4)}"
    await create_database(server_dsn, name)
    try:
        yield with_database(server_dsn, name)
    finally:
        await drop_database(server_dsn, name)


async def _tables(conn) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r["tablename"] for r in rows} - {"schema_migrations"}


async def test_stairway_up_down_up_for_every_migration(scratch_dsn):
    migrations = load_migrations(MIGRATIONS)
    assert migrations, "no migrations found"
    conn = await asyncpg.connect(scratch_dsn)
    try:
        for migration in migrations:
            before = await _tables(conn)
            assert await migrate(conn, MIGRATIONS, target=migration.version) == [migration.name]
            after = await _tables(conn)
            assert await rollback(conn, MIGRATIONS, steps=1) == [migration.name]
            assert await _tables(conn) == before
            assert await migrate(conn, MIGRATIONS, target=migration.version) == [migration.name]
            assert await _tables(conn) == after
        assert await migrate(conn, MIGRATIONS) == []
        versions = [r["version"] for r in
                    await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == [m.version for m in migrations]
    finally:
        await conn.close()


async def test_concurrent_starts_apply_each_migration_once(scratch_dsn):
    conns = [await asyncpg.connect(scratch_dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c, MIGRATIONS) for c in conns))
        applied = [name for result in results for name in result]
        assert sorted(applied) == sorted(m.name for m in load_migrations(MIGRATIONS))
    finally:
        for c in conns:
            await c.close()


async def test_a_failing_migration_leaves_nothing_behind(scratch_dsn, tmp_path):
    (tmp_path / "0001_ok.sql").write_text(
        "-- migrate:up\nCREATE TABLE ok (id int);\n-- migrate:down\nDROP TABLE ok;\n")
    (tmp_path / "0002_bad.sql").write_text(
        "-- migrate:up\nCREATE TABLE half (id int);\nSELECT no_such_function();\n"
        "-- migrate:down\nDROP TABLE half;\n")
    conn = await asyncpg.connect(scratch_dsn)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(conn, tmp_path)
        assert "ok" in await _tables(conn)
        assert "half" not in await _tables(conn)
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 1
    finally:
        await conn.close()


def test_a_file_without_a_down_section_is_refused(tmp_path):
    (tmp_path / "0001_nodown.sql").write_text("-- migrate:up\nSELECT 1;\n")
    with pytest.raises(RuntimeError, match="migrate:down"):
        load_migrations(tmp_path)
