"""The connection pool, the migration runner, and start-up bootstrap."""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from service.config import Settings

log = logging.getLogger("service.db")

# Any constant shared by every instance: it serialises migrations across processes.
MIGRATION_LOCK_ID = 0x6D72736D  # "mrsm"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_UP = "-- migrate:up"
_DOWN = "-- migrate:down"


def like_escape(text: str) -> str:
    """`text` matched literally inside a LIKE pattern (whose escape character is the
    backslash): a search for "50%" or "a_b" finds those characters, not wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def mask_dsn(dsn: str) -> str:
    """The DSN with its password replaced, for logs."""
    parts = urlsplit(dsn)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


async def init_connection(conn: asyncpg.Connection) -> None:
    """JSON in and out as Python objects, on every connection the service opens."""
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads,
                                  schema="pg_catalog")


class BoundedPool(asyncpg.Pool):
    """An asyncpg pool whose `acquire()` gives up after `acquire_timeout` seconds by default.

    Without it a request waits for a free connection for ever when the pool is exhausted
    or the database hangs; with it the request fails with TimeoutError, which the error
    middleware answers with 503 (never a hang, never a fail-open).

    `waiting` counts the acquirers that have no connection yet (for /metrics): asyncpg has
    no public figure for it.
    """

    acquire_timeout: float | None = None
    waiting: int = 0

    def acquire(self, *, timeout: float | None = None) -> _Acquire:
        return _Acquire(self, super().acquire(
            timeout=self.acquire_timeout if timeout is None else timeout))


class _Acquire:
    """`async with pool.acquire() as conn`, counted in `BoundedPool.waiting` until `conn`
    is handed over."""

    __slots__ = ("_pool", "_inner")

    def __init__(self, pool: BoundedPool, inner) -> None:
        self._pool = pool
        self._inner = inner

    async def _counted(self, acquiring) -> asyncpg.Connection:
        self._pool.waiting += 1
        try:
            return await acquiring
        finally:
            self._pool.waiting -= 1

    async def __aenter__(self) -> asyncpg.Connection:
        return await self._counted(self._inner.__aenter__())

    async def __aexit__(self, *exc_info) -> None:
        await self._inner.__aexit__(*exc_info)

    def __await__(self):  # `conn = await pool.acquire()`, as asyncpg allows
        return self._counted(self._inner).__await__()


async def create_pool(settings: Settings, **overrides) -> asyncpg.Pool:
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    options = dict(
        min_size=settings.db_pool_min,
        max_size=max(settings.db_pool_max, settings.db_pool_min),
        init=init_connection,
        timeout=settings.db_timeout,  # connecting
        command_timeout=30,
        statement_cache_size=settings.db_statement_cache_size,
        # asyncpg.create_pool's defaults, which Pool() itself does not supply.
        max_queries=50000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
    )
    options.update(overrides)
    pool = BoundedPool(settings.database_url, **options)
    pool.acquire_timeout = settings.db_timeout
    return await pool


async def connect_direct(settings: Settings) -> asyncpg.Connection:
    """One connection to LISTEN_DATABASE_URL (else DATABASE_URL), for what needs a session
    of its own: the migrations and their advisory lock, which PgBouncer in transaction
    mode would spread over several server connections."""
    if not settings.listen_url:
        raise RuntimeError("DATABASE_URL is not set")
    conn = await asyncpg.connect(settings.listen_url, timeout=settings.db_timeout,
                                 statement_cache_size=settings.db_statement_cache_size)
    try:
        await init_connection(conn)
    except BaseException:
        conn.terminate()
        raise
    return conn


# --- migrations -----------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    up: str
    down: str


def load_migrations(directory: Path) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise RuntimeError(f"migration file name not understood: {path.name}")
        text = path.read_text(encoding="utf-8")
        if text.count(_UP) != 1 or text.count(_DOWN) != 1 or text.index(_UP) > text.index(_DOWN):
            raise RuntimeError(f"{path.name}: needs one '{_UP}' then one '{_DOWN}' section")
        up, down = text.split(_UP, 1)[1].split(_DOWN, 1)
        migrations.append(Migration(match.group(1), path.stem, up.strip(), down.strip()))
    return migrations


_CREATE_HISTORY = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


async def migrate(conn: asyncpg.Connection, directory: Path, *,
                  target: str | None = None) -> list[str]:
    """Apply every migration not yet applied (up to `target`); returns the names applied.

    Each migration runs in its own transaction; the advisory lock makes a second
    instance starting at the same time wait, then find nothing left to do.
    """
    applied_now = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await conn.execute(_CREATE_HISTORY)
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for migration in load_migrations(directory):
            if target is not None and migration.version > target:
                break
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.up)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version, migration.name,
                )
            applied_now.append(migration.name)
            log.info("applied migration %s", migration.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    return applied_now


async def rollback(conn: asyncpg.Connection, directory: Path, *, steps: int = 1) -> list[str]:
    """Undo the last `steps` applied migrations (all of them with steps=0)."""
    undone = []
    by_version = {m.version: m for m in load_migrations(directory)}
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await conn.execute(_CREATE_HISTORY)
        rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version DESC")
        for row in rows[: steps or None]:
            migration = by_version[row["version"]]
            async with conn.transaction():
                await conn.execute(migration.down)
                await conn.execute("DELETE FROM schema_migrations WHERE version = $1",
                                   migration.version)
            undone.append(migration.name)
            log.info("rolled back migration %s", migration.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    return undone


# --- bootstrap ------------------------------------------------------------------


async def jwt_secret(conn: asyncpg.Connection, settings: Settings) -> str:
    """JWT_SECRET, or the key stored in the database (made once, by whoever starts first)."""
    if settings.jwt_secret:
        return settings.jwt_secret
    await conn.execute(
        "INSERT INTO service_settings (key, value) VALUES ('jwt_secret', $1) "
        "ON CONFLICT (key) DO NOTHING",
        secrets.token_urlsafe(32),
    )
    return await conn.fetchval("SELECT value FROM service_settings WHERE key = 'jwt_secret'")
