"""Fixtures for /pipes: every test here runs twice, on the usual pipe_rows and on pipe_rows
partitioned by time range (tests.support.db.PARTITIONED_PIPE_ROWS); credentials with chosen
scopes, and a registered pipe."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

import pytest

from service.config import Settings
from tests.support.db import partitioned_database, settings_for
from tests.support.pipes import PIPE, Headers


@pytest.fixture(scope="session", params=["plain", "partitioned"])
def database_url(request, database, server_dsn) -> Iterator[str]:
    """The run's database, or one whose pipe_rows is partitioned: the service must not care."""
    if request.param == "plain":
        yield database[0]
        return
    with partitioned_database(server_dsn) as dsn:
        yield dsn


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return settings_for(database_url)


@pytest.fixture
async def owner_headers(api) -> Headers:
    """A JWT (password grant) for a user holding every pipe scope."""
    await api.create_user("alice")
    return await api.bearer("alice")


@pytest.fixture
def api_key(api, owner_headers) -> Callable[..., Awaitable[Headers]]:
    """make(*scopes) -> headers sending a fresh token's raw API key."""
    count = 0

    async def make(*scopes: str) -> Headers:
        nonlocal count
        count += 1
        token = await api.create_token(owner_headers, label=f"key-{count}", scopes=list(scopes))
        return {"Authorization": token["api_key"]}

    return make


@pytest.fixture
def token_jwt(api, owner_headers) -> Callable[..., Awaitable[Headers]]:
    """make(*scopes) -> headers sending a JWT from a fresh token's client credentials."""
    count = 0

    async def make(*scopes: str) -> Headers:
        nonlocal count
        count += 1
        token = await api.create_token(owner_headers, label=f"jwt-{count}", scopes=list(scopes))
        return {"Authorization": f"Bearer {await api.client_credentials(token)}"}

    return make


@pytest.fixture
async def pipe(client, owner_headers) -> str:
    """A registered pipe's path: sql:main / temperature / lab.1."""
    resp = await client.post("/pipes", headers=owner_headers, json={
        "connector_keys": "sql:main", "metric_key": "temperature", "location_key": "lab.1"})
    assert resp.status == 201, await resp.text()
    return PIPE
