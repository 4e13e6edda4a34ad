"""Fixtures: one real PostgreSQL per run, a clean slate per test, the real app over HTTP."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from service.app import create_app
from service.auth.passwords import PasswordHasher
from service.config import AbuseSettings, Settings
from service.users.ops import insert_user as create_user
from tests.db import test_database

# Tables every test starts without rows; the schema and the JWT key stay.
KEEP_TABLES = {"schema_migrations", "service_settings"}
ADMIN_PASSWORD = "admin-password-1"  # noqa: S105 (a test fixture)
USER_PASSWORD = "user-password-1"  # noqa: S105


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


def pytest_report_header(config: pytest.Config) -> str:
    source = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "Docker or embedded pgserver"
    return f"database: {source}"


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    """Test settings: cheap argon2 (production parameters only where a test checks them)."""
    return Settings(
        database_url=database_url,
        argon2_time_cost=1,
        argon2_memory_cost=8,
        argon2_parallelism=1,
        db_pool_min=1,
        db_pool_max=4,
        access_log=False,
        # Throttling off by default: many tests fail logins on purpose; tests/abuse turns it on.
        abuse=AbuseSettings(throttle_enabled=False),
    )


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
def make_settings(settings: Settings):
    """Settings with some fields changed, e.g. make_settings(token_max_ttl_days=30)."""
    return lambda **changes: dataclasses.replace(settings, **changes)


@pytest.fixture
async def client(aiohttp_client, settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(settings))


class Api:
    """Small helpers over the real HTTP API, for arranging tests."""

    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    async def create_user(self, username: str, password: str = USER_PASSWORD, *,
                          type_: str = "user", scopes: list[str] | None = None) -> dict:
        hasher = PasswordHasher(self.settings)
        conn = await asyncpg.connect(self.settings.database_url)
        try:
            row = await create_user(conn, hasher, username=username, password=password,
                                    type_=type_, scopes=scopes)
        finally:
            await conn.close()
            hasher.close()
        return dict(row)

    async def login(self, username: str, password: str, **extra: str) -> str:
        resp = await self.client.post("/login", data={"grant_type": "password",
                                                      "username": username,
                                                      "password": password, **extra})
        assert resp.status == 200, await resp.text()
        return (await resp.json())["access_token"]

    async def bearer(self, username: str, password: str = USER_PASSWORD) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.login(username, password)}"}

    async def create_token(self, headers: dict[str, str], **body: Any) -> dict:
        resp = await self.client.post("/tokens", json=body, headers=headers)
        assert resp.status == 201, await resp.text()
        return await resp.json()

    async def client_credentials(self, token: dict, **extra: str) -> str:
        resp = await self.client.post("/login", data={"grant_type": "client_credentials",
                                                      "client_id": token["id"],
                                                      "client_secret": token["secret"], **extra})
        assert resp.status == 200, await resp.text()
        return (await resp.json())["access_token"]


@pytest.fixture
def api(client: TestClient, settings: Settings) -> Api:
    return Api(client, settings)


@pytest.fixture
async def admin_headers(api: Api) -> dict[str, str]:
    await api.create_user("admin", ADMIN_PASSWORD, type_="admin")
    return await api.bearer("admin", ADMIN_PASSWORD)


@pytest.fixture
async def user_headers(api: Api) -> dict[str, str]:
    await api.create_user("alice")
    return await api.bearer("alice")
