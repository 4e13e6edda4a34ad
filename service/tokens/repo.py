"""Tokens in PostgreSQL. Plain functions taking a connection; the caller owns the transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

_SELECT = """
SELECT t.id, t.user_id, u.username, u.type AS user_type, u.scopes AS user_scopes,
       t.label, t.scopes, t.expiration, t.created_at, t.invalidated_at, t.last_used_at,
       t.rate_limit, t.allowed_cidrs, t.pipes
FROM tokens t LEFT JOIN users u ON u.id = t.user_id
"""

INSERT = """
INSERT INTO tokens (id, user_id, label, secret_hash, scopes, expiration, rate_limit,
                    allowed_cidrs, pipes)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""
BY_ID = _SELECT + "WHERE t.id = $1"
# $1: owner id or NULL for every token; newest first.
PAGE = _SELECT + """
WHERE ($1::uuid IS NULL OR t.user_id = $1)
ORDER BY t.created_at DESC, t.id
LIMIT $2 OFFSET $3
"""
COUNT = "SELECT count(*) FROM tokens WHERE ($1::uuid IS NULL OR user_id = $1)"
UPDATE = """
UPDATE tokens SET
    label = CASE WHEN $2 THEN $3 ELSE label END,
    expiration = CASE WHEN $4 THEN $5 ELSE expiration END,
    scopes = CASE WHEN $6 THEN $7 ELSE scopes END,
    rate_limit = CASE WHEN $8 THEN $9 ELSE rate_limit END,
    allowed_cidrs = CASE WHEN $10 THEN $11::cidr[] ELSE allowed_cidrs END,
    pipes = CASE WHEN $12 THEN $13::text[] ELSE pipes END
WHERE id = $1
"""
INVALIDATE = "UPDATE tokens SET invalidated_at = coalesce(invalidated_at, now()) WHERE id = $1"
DELETE = "DELETE FROM tokens WHERE id = $1"


async def insert(conn: asyncpg.Connection, *, token_id: uuid.UUID, user_id: uuid.UUID,
                 label: str, secret_hash: bytes, scopes: list[str],
                 expiration: datetime | None, rate_limit: int | None = None,
                 allowed_cidrs: list | None = None, pipes: list[str] | None = None) -> None:
    await conn.execute(INSERT, token_id, user_id, label, secret_hash, scopes, expiration,
                       rate_limit, allowed_cidrs, pipes)


async def by_id(conn: asyncpg.Connection, token_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(BY_ID, token_id)


async def page(conn: asyncpg.Connection, user_id: uuid.UUID | None, limit: int,
               offset: int) -> tuple[list[asyncpg.Record], int]:
    rows = await conn.fetch(PAGE, user_id, limit, offset)
    total = await conn.fetchval(COUNT, user_id)
    return rows, total


async def update(conn: asyncpg.Connection, token_id: uuid.UUID, changes: dict) -> None:
    await conn.execute(
        UPDATE, token_id,
        "label" in changes, changes.get("label"),
        "expiration" in changes, changes.get("expiration"),
        "scopes" in changes, changes.get("scopes"),
        "rate_limit" in changes, changes.get("rate_limit"),
        "allowed_cidrs" in changes, changes.get("allowed_cidrs"),
        "pipes" in changes, changes.get("pipes"),
    )


async def invalidate(conn: asyncpg.Connection, token_id: uuid.UUID) -> None:
    await conn.execute(INVALIDATE, token_id)


async def delete(conn: asyncpg.Connection, token_id: uuid.UUID) -> None:
    await conn.execute(DELETE, token_id)
