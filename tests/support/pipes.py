"""/pipes in tests: the usual pipe, and small request helpers that check what they get."""

from __future__ import annotations

import asyncpg

Headers = dict[str, str]
PIPE = "/pipes/sql:main/temperature/lab.1"
DATA = PIPE + "/data"


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
