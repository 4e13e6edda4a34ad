"""Fixtures: one real PostgreSQL per run, a clean slate per test, the real app over HTTP
(throttling off, or on with small limits), and real service processes
(tests.support.servers) for the tests that need one."""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from service.app import create_app
from service.auth import keystore
from service.config import AbuseSettings, Settings
from tests.support.api import Api
from tests.support.cli import ROOT_PASSWORD, env_changes
from tests.support.db import migrated, scratch_database, settings_for, test_database
from tests.support.servers import Server, run_server
from tests.support.sidecars import is_tcp, run_postgres
from tests.support.throttling import LIMITS, Backend

# Tables every test starts without rows; the schema and the JWT keys stay (a service started
# for the whole session keeps signing with its key).
KEEP_TABLES = {"schema_migrations", "service_settings", "signing_keys"}
# The admin a `start_service` process is started with (Server.admin).
PROCESS_ADMIN = ("fault-admin", "fault-admin-password")


@pytest.fixture(scope="session")
def database() -> Iterator[tuple[str, str, str]]:
    """(dsn of this run's migrated database, the server's maintenance dsn, its source)."""
    with test_database() as found:
        yield found


@pytest.fixture(scope="session")
def database_url(database) -> str:
    return database[0]


@pytest.fixture(scope="session")
def server_dsn(database) -> str:
    return database[1]


@pytest.fixture(scope="session")
def tcp_server_dsn(server_dsn: str) -> Iterator[str]:
    """A server reached over TCP (PgBouncer and multi-host URLs need one): this run's, or,
    under the embedded server, which listens on a Unix socket only, one of the run's own."""
    if is_tcp(server_dsn):
        yield server_dsn
        return
    with run_postgres() as dsn:
        yield dsn


@pytest.fixture
def tcp_database_url(database_url: str, tcp_server_dsn: str) -> Iterator[str]:
    """This run's database when it is on TCP (cleaned like every test's); else a fresh,
    migrated database of this test's own on `tcp_server_dsn`."""
    if is_tcp(database_url):
        yield database_url
        return
    with scratch_database(tcp_server_dsn, "mrsm_tcp", migrated) as dsn:
        yield dsn


def pytest_report_header(config: pytest.Config) -> str:
    source = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "Docker or embedded pgserver"
    return f"database: {source}"


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return settings_for(database_url)


@pytest.fixture(autouse=True)
async def clean_tables(database_url: str) -> AsyncIterator[None]:
    """Every table but KEEP_TABLES starts each test empty.

    DELETE rather than TRUNCATE: TRUNCATE makes new files for every table and index
    and waits for their fsync (about 0.1 s per test here), DELETE on tables holding a
    handful of rows takes a few ms. `session_replication_role = replica` turns off
    foreign-key and ordinary triggers for this connection only, so the order of the
    DELETEs does not matter, the append-only audit trigger does not refuse, and no
    revocation NOTIFY fires. Setting it needs a superuser; other roles TRUNCATE.
    """
    conn = await asyncpg.connect(database_url)
    try:
        tables = [
            '"' + r["tablename"].replace('"', '""') + '"'
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            if r["tablename"] not in KEEP_TABLES
        ]
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                for table in tables:
                    await conn.execute(f"DELETE FROM {table}")
        except asyncpg.InsufficientPrivilegeError:
            await conn.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
    finally:
        await conn.close()
    yield


@pytest.fixture
async def fresh_signing_keys(database_url: str) -> AsyncIterator[None]:
    """No signing key at the start (the test's first service makes one), and a new default
    one at the end, announced so that running services load it at once: for the tests that
    rotate keys, seal them or change the algorithm."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DELETE FROM signing_keys")
        yield
        await conn.execute("DELETE FROM signing_keys")
        await keystore.ensure(conn, Settings())
    finally:
        await conn.close()


@pytest.fixture
def make_settings(settings: Settings):
    """Settings with some fields changed, e.g. make_settings(token_max_ttl_days=30)."""
    return lambda **changes: dataclasses.replace(settings, **changes)


@pytest.fixture
async def client(aiohttp_client, settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(settings))


@pytest.fixture
def api(client: TestClient, settings: Settings) -> Api:
    return Api(client, settings)


@pytest.fixture
async def admin_headers(api: Api) -> dict[str, str]:
    return await api.admin_headers()


@pytest.fixture
async def user_headers(api: Api) -> dict[str, str]:
    await api.create_user("alice")
    return await api.bearer("alice")


# Throttling on, for tests/abuse and tests/audit (which records throttles and addresses).
@pytest.fixture(params=["postgres", "redis"])
async def backend(request, database_url: str) -> AsyncIterator[Backend]:
    """Where the throttle's counters live: a test using it (so `limits`, `tapi`) runs twice,
    with them in PostgreSQL and in Redis (tests.support.throttling.REDIS_URL)."""
    b = Backend(request.param, database_url)
    yield b
    await b.clean()


@pytest.fixture
def limits(backend: Backend) -> AbuseSettings:
    """Throttling on with small budgets (LIMITS), X-Forwarded-For trusted from loopback."""
    return backend.settings(LIMITS)


@pytest.fixture
async def tapi(aiohttp_client, make_settings, limits) -> Api:
    """Like `api`, on an app with throttling on (`limits`, overridable per module)."""
    settings = make_settings(abuse=limits)
    client = await aiohttp_client(create_app(settings))
    return Api(client, settings)


@pytest.fixture
async def tadmin(tapi: Api) -> dict[str, str]:
    """An admin's bearer on `tapi`."""
    return await tapi.admin_headers()


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """start_service(dsn, **env) -> a running service on `dsn`, stopped after the test.

    One worker, PROCESS_ADMIN as its admin, DB_TIMEOUT 2 s, a pool of 1 to 4 connections
    (`env` may change any of them); its output is kept for `Server.log()`.
    """
    numbers = itertools.count(1)
    with ExitStack() as stack:
        def start(dsn: str, **env: str) -> Server:
            log = tmp_path / f"service-{next(numbers)}.log"
            return stack.enter_context(run_server(dsn, workers=1, log=log, **{
                "ADMIN_USERNAME": PROCESS_ADMIN[0], "ADMIN_PASSWORD": PROCESS_ADMIN[1],
                "DB_TIMEOUT": "2", "DB_POOL_MIN": "1", "DB_POOL_MAX": "4", **env}))

        yield start


@pytest.fixture(scope="session")
def api_server(database_url: str, tmp_path_factory) -> Iterator[Server]:
    """The service the `api:` instances of tests/cli and tests/sdk reach: one per session,
    with root as its admin and last-used times flushed every second; stopped before the
    session's database is dropped."""
    log = tmp_path_factory.mktemp("server") / "service.log"
    with run_server(database_url, log=log, **env_changes(
            database_url, log.with_suffix(".toml"), PYTHONWARNINGS=None,
            ADMIN_USERNAME="root", ADMIN_PASSWORD=ROOT_PASSWORD, ACCESS_LOG="0",
            LAST_USED_FLUSH_SECONDS="1")) as server:
        yield server
