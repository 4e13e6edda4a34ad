"""Shared assertions for the HTTP tests: the one error shape, and direct database reads."""

from __future__ import annotations

import base64
import json
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg
import jwt

ERROR_KEYS = {"error", "error_description"}

# What issue 2 requires in every token representation (other features may add fields).
SHAPE = {"id", "label", "user", "scopes", "expiration", "created_at", "is_valid",
         "invalidated_at", "last_used_at"}
ONCE = {"secret", "api_key"}
# A time, not a secret: when the secret before a rotation stops working.
NOT_SECRETS = {"previous_secret_expires_at"}


def assert_token_shape(body: dict, *, created: bool = False) -> None:
    assert SHAPE <= set(body), body
    assert (ONCE <= set(body)) if created else not (ONCE & set(body)), body
    assert not any("hash" in key or "secret" in key for key in set(body) - ONCE - NOT_SECRETS), body
    assert body.get("previous_secret_expires_at") is None or isinstance(
        body["previous_secret_expires_at"], str), body


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
