"""Fixtures for /pipes: credentials with chosen scopes, and small request helpers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import pytest

Headers = dict[str, str]
PIPE = "/pipes/sql:main/temperature/lab.1"
DATA = PIPE + "/data"


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


async def error_of(resp, status: int) -> dict:
    """The JSON error body of `resp`, after checking its status and shape."""
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert set(body) <= {"error", "error_description", "fields"}
    assert body["error"] and body["error_description"]
    return body


def hourly(n: int, start: int = 0, **values) -> list[dict]:
    """`n` rows an hour apart on 2024-01-01 (hours start..start+n-1), "v" the hour."""
    return [{"timestamp": f"2024-01-01T{h:02d}:00:00Z", "v": h, **values}
            for h in range(start, start + n)]


async def write(client, headers, rows, path=DATA, status=200, **kwargs):
    """POST rows, check the status, return the JSON answer."""
    resp = await client.post(path, headers=headers, json=rows, **kwargs)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def read(client, headers, path=DATA, **params):
    """GET rows as JSON with query `params`."""
    resp = await client.get(path, headers=headers, params=params)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def stored(database_url) -> list[tuple]:
    """Every stored row, read straight from the table (not through the API under test)."""
    conn = await asyncpg.connect(database_url)
    try:
        return [tuple(r) for r in await conn.fetch(
            'SELECT ts, "values"::text FROM pipe_rows ORDER BY ts')]
    finally:
        await conn.close()
