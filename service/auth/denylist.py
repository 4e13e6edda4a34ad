"""Revoked JWTs (RFC 7009): their `jti` until their `exp`, in the database.

A revocation also notifies 'mrsm_auth' with the JWT's user, so every process drops that
user's cached credentials; the JWT's next use is a cache miss, which checks this list.
Rows are useless once the JWT has expired and are deleted then (`clean`).
"""

from __future__ import annotations

import uuid

import asyncpg

from service.auth.revocation import CHANNEL

REVOKE = """
INSERT INTO revoked_jwts (jti, expires_at) VALUES ($1, to_timestamp($2))
ON CONFLICT (jti) DO NOTHING
"""
IS_REVOKED = "SELECT EXISTS (SELECT 1 FROM revoked_jwts WHERE jti = $1)"
CLEAN = "DELETE FROM revoked_jwts WHERE expires_at < now()"
NOTIFY = "SELECT pg_notify($1, 'user:' || $2)"


async def revoke(conn: asyncpg.Connection, jti: str, expires_at: int,
                 user_id: uuid.UUID) -> bool:
    """Refuse the JWT `jti` on every process until `expires_at` (Unix seconds); whether it
    was not refused already."""
    status = await conn.execute(REVOKE, jti, expires_at)
    await conn.execute(NOTIFY, CHANNEL, str(user_id))
    return status == "INSERT 0 1"


async def is_revoked(conn: asyncpg.Connection, jti: str) -> bool:
    return await conn.fetchval(IS_REVOKED, jti)


async def clean(conn: asyncpg.Connection) -> int:
    """Delete the rows of JWTs that have expired; returns how many."""
    status = await conn.execute(CLEAN)
    return int(status.rsplit(" ", 1)[-1])
