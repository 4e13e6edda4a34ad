"""Shared assertions for the HTTP tests: the one error shape, and direct database reads."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg
import jwt
import pytest

ERROR_KEYS = {"error", "error_description"}

# What issue 2 requires in every token representation (other features may add fields).
SHAPE = {"id", "label", "user", "scopes", "expiration", "created_at", "is_valid",
         "invalidated_at", "last_used_at"}
ONCE = {"secret", "api_key"}


def assert_token_shape(body: dict, *, created: bool = False) -> None:
    assert SHAPE <= set(body), body
    assert (ONCE <= set(body)) if created else not (ONCE & set(body)), body
    assert not any("hash" in key or "secret" in key for key in set(body) - ONCE), body


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def assert_error(resp, status: int, code: str | None = None) -> dict:
    """The response is `status` with the one JSON error shape (and `code`, when given)."""
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == "application/json", text
    body = json.loads(text)
    assert ERROR_KEYS <= set(body) <= ERROR_KEYS | {"fields"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["error_description"], str) and body["error_description"]
    if "fields" in body:
        assert status == 422 and isinstance(body["fields"], dict) and body["fields"], body
    assert "Traceback" not in text
    if code is not None:
        assert body["error"] == code, body
    return body


@asynccontextmanager
async def connect(dsn: str):
    conn = await asyncpg.connect(dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def jwt_key(dsn: str) -> str:
    """The JWT signing key the service generated and stored (no JWT_SECRET in tests)."""
    async with connect(dsn) as conn:
        return await conn.fetchval("SELECT value FROM service_settings WHERE key = 'jwt_secret'")


def claims_of(access_token: str) -> dict:
    """A JWT's payload, unverified (for reading claims only)."""
    return jwt.decode(access_token, options={"verify_signature": False})


def header_of(access_token: str) -> dict:
    return jwt.get_unverified_header(access_token)


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


# Every table but these starts each test empty (as tests/conftest.py's clean_tables).
KEEP_TABLES = {"schema_migrations", "service_settings"}
LIST_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"


@pytest.fixture(autouse=True)
async def clean_tables(database_url: str) -> AsyncIterator[None]:
    """A faster clean slate than TRUNCATE, for modules that import it.

    TRUNCATE makes new files for every table and index and waits for their fsync:
    about 0.1 s per test here, against a few ms for DELETE on tables holding a
    handful of rows. `session_replication_role = replica` turns off foreign-key and
    ordinary triggers for this connection only, so the order of the DELETEs does not
    matter, the append-only audit trigger does not refuse, and no revocation NOTIFY
    fires. Setting that needs a superuser; any other role falls back to TRUNCATE.
    """
    async with connect(database_url) as conn:
        tables = ['"' + r["tablename"].replace('"', '""') + '"'
                  for r in await conn.fetch(LIST_TABLES) if r["tablename"] not in KEEP_TABLES]
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                for table in tables:
                    await conn.execute(f"DELETE FROM {table}")
        except asyncpg.InsufficientPrivilegeError:  # not a superuser: the slower way
            await conn.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
    yield
