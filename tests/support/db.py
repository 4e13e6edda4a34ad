"""Where the test suite's PostgreSQL comes from: DATABASE_URL, else Docker, else embedded.

One database per test run: created at the start, migrated once, dropped at the end.
Fault tests have a PostgreSQL of their own (`PrivatePostgres`), never the shared server
named by DATABASE_URL: they stop it with `pg_ctl stop -m immediate` (a crash, as far as
the data is concerned) and start it again.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from service.config import PROJECT_ROOT, AbuseSettings, Settings
from service.db import migrate


def settings_for(database_url: str) -> Settings:
    """Test settings: cheap argon2 (production parameters only where a test checks them)."""
    return Settings(
        database_url=database_url,
        argon2_time_cost=1,
        argon2_memory_cost=8,
        argon2_parallelism=1,
        db_pool_min=1,
        db_pool_max=4,
        access_log=False,
        # Throttling off by default: many tests fail logins on purpose; `tapi` turns it on.
        abuse=AbuseSettings(throttle_enabled=False),
    )


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def create_database(server_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(f"CREATE DATABASE {quote_ident(name)}")
    finally:
        await conn.close()


async def drop_database(server_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
    finally:
        await conn.close()


async def migrated(dsn: str) -> None:
    """Apply every migration to the database of `dsn`."""
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, PROJECT_ROOT / "migrations")
    finally:
        await conn.close()


def _docker_answers() -> bool:
    """Whether a Docker engine answers /_ping (docker-py leaks a socket when none does)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    parts = urlsplit(host)
    try:
        if parts.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            sock = socket.create_connection((parts.hostname, parts.port or 2375), timeout=2)
        with sock:
            if parts.scheme == "unix":
                sock.settimeout(2)
                sock.connect(parts.path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in sock.recv(1024)
    except OSError:
        return False


@contextmanager
def server_dsn() -> Iterator[tuple[str, str]]:
    """(dsn of a maintenance database, how it was found)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url, "DATABASE_URL"
        return
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:15-alpine", driver=None) as pg:
            yield pg.get_connection_url(), "testcontainers"
        return
    from service.embedded import start_embedded

    with tempfile.TemporaryDirectory(prefix="mrsm-pg-") as tmp:
        server, dsn = start_embedded(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            yield dsn, "embedded pgserver"
        finally:
            server.cleanup()


@contextmanager
def scratch_database(server: str, prefix: str,
                     build: Callable[[str], Awaitable[None]] | None = None) -> Iterator[str]:
    """A fresh database on the server of `server` (a dsn), named after `prefix`, the process
    and a random part, made ready by `build(dsn)` when given (`migrated`, say); dropped at
    the end. Yields its dsn."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(create_database(server, name))
    try:
        dsn = with_database(server, name)
        if build is not None:
            asyncio.run(build(dsn))
        yield dsn
    finally:
        asyncio.run(drop_database(server, name))


@contextmanager
def test_database() -> Iterator[tuple[str, str, str]]:
    """(dsn of a fresh, migrated database; the server's dsn; where it came from)."""
    with server_dsn() as (admin_dsn, source), \
            scratch_database(admin_dsn, "mrsm_test", migrated) as dsn:
        yield dsn, admin_dsn, source


class PrivatePostgres:
    """A pgserver of our own: start(), stop() (immediate), dsn."""

    def __init__(self, directory: Path) -> None:
        from service.embedded import start_embedded

        self.server, self.dsn = start_embedded(directory, cleanup_mode="delete")
        self._socket_dir = self.server.get_postmaster_info().socket_dir

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.server.pgdata, user=self.server.system_user, timeout=30)

    def stop(self) -> None:
        """An immediate stop: no checkpoint, backends killed; recovery replays the WAL."""
        self._pg_ctl("-m", "immediate", "-w", "stop")

    def start(self) -> None:
        # The options pgserver itself starts with: Unix socket only, same directory, same DSN.
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self._socket_dir}",
                     "-l", str(self.server.log), "start")

    def close(self) -> None:
        self.server.cleanup()


# pipe_rows as a table partitioned by time range, as docs/partitioning.md describes: the
# same columns and keys, partitions split inside a day the tests write (so one request
# spans two), and a default partition for every other time.
PARTITIONED_PIPE_ROWS = """
DROP TABLE pipe_rows;
CREATE TABLE pipe_rows (
    pipe_id  bigint NOT NULL REFERENCES pipes (id) ON DELETE CASCADE,
    ts       timestamptz NOT NULL,
    "values" jsonb NOT NULL,
    PRIMARY KEY (pipe_id, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE pipe_rows_before PARTITION OF pipe_rows
    FOR VALUES FROM (MINVALUE) TO ('2024-01-01 12:00:00+00');
CREATE TABLE pipe_rows_after PARTITION OF pipe_rows
    FOR VALUES FROM ('2024-01-01 12:00:00+00') TO ('2024-02-01 00:00:00+00');
CREATE TABLE pipe_rows_default PARTITION OF pipe_rows DEFAULT;
"""


@contextmanager
def partitioned_database(server_dsn: str) -> Iterator[str]:
    """A fresh migrated database whose pipe_rows is partitioned by time range; its dsn."""

    async def build(dsn: str) -> None:
        await migrated(dsn)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(PARTITIONED_PIPE_ROWS)
        finally:
            await conn.close()

    with scratch_database(server_dsn, "mrsm_test_parts", build) as dsn:
        yield dsn
