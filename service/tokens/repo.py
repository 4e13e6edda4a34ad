"""Tokens in PostgreSQL. Plain functions taking a connection; the caller owns the transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

_SELECT = """
SELECT t.id, t.user_id, u.username, u.type AS user_type, u.scopes AS user_scopes,
       t.label, t.scopes, t.expiration, t.created_at, t.invalidated_at, t.last_used_at,
       t.rate_limit, t.allowed_cidrs, t.previous_secret_expires_at, t.invalidated_reason,
       t.recent_sources
FROM tokens t LEFT JOIN users u ON u.id = t.user_id
"""

INSERT = """
INSERT INTO tokens (id, user_id, label, secret_hash, scopes, expiration, rate_limit,
                    allowed_cidrs)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""
BY_ID = _SELECT + "WHERE t.id = $1"
# The listing's filters, NULL for "any": $1 owner id; $2 valid and expiring before then.
_FILTERS = """
WHERE ($1::uuid IS NULL OR t.user_id = $1)
  AND ($2::timestamptz IS NULL OR (t.expiration < $2 AND t.expiration > now()
                                    AND t.invalidated_at IS NULL AND t.user_id IS NOT NULL))
"""
# Newest first.
PAGE = _SELECT + _FILTERS + """
ORDER BY t.created_at DESC, t.id
LIMIT $3 OFFSET $4
"""
COUNT = "SELECT count(*) FROM tokens t" + _FILTERS  # noqa: S608 - constants, no input
UPDATE = """
UPDATE tokens SET
    label = CASE WHEN $2 THEN $3 ELSE label END,
    expiration = CASE WHEN $4 THEN $5 ELSE expiration END,
    scopes = CASE WHEN $6 THEN $7 ELSE scopes END,
    rate_limit = CASE WHEN $8 THEN $9 ELSE rate_limit END,
    allowed_cidrs = CASE WHEN $10 THEN $11::cidr[] ELSE allowed_cidrs END
WHERE id = $1
"""
# The first invalidation's time and reason stay; both secrets end.
INVALIDATE = """
UPDATE tokens SET invalidated_at = coalesce(invalidated_at, now()),
                  invalidated_reason = coalesce(invalidated_reason, $2),
                  previous_secret_hash = NULL, previous_secret_expires_at = NULL
WHERE id = $1
"""
# A new secret. With an overlap the current one becomes the previous one until $3 (an older
# previous one ends now: at most two); without one ($3 NULL) no old secret is kept, and
# every JWT issued under an older version ends.
ROTATE = """
UPDATE tokens SET
    previous_secret_hash = CASE WHEN $3::timestamptz IS NULL THEN NULL ELSE secret_hash END,
    previous_secret_expires_at = $3,
    secret_hash = $2,
    secret_version = secret_version + 1,
    jwt_min_version = CASE WHEN $3::timestamptz IS NULL THEN secret_version + 1
                           ELSE jwt_min_version END
WHERE id = $1
"""
# Valid tokens among these ids, with both secrets' hashes (leaked-key reports).
VALID_SECRETS = """
SELECT t.id, t.user_id, u.username, t.label, t.secret_hash, t.previous_secret_hash,
       t.previous_secret_expires_at
FROM tokens t JOIN users u ON u.id = t.user_id
WHERE t.id = ANY($1::uuid[]) AND t.invalidated_at IS NULL
  AND (t.expiration IS NULL OR t.expiration > now())
"""
DELETE = "DELETE FROM tokens WHERE id = $1"


async def insert(conn: asyncpg.Connection, *, token_id: uuid.UUID, user_id: uuid.UUID,
                 label: str, secret_hash: bytes, scopes: list[str],
                 expiration: datetime | None, rate_limit: int | None = None,
                 allowed_cidrs: list | None = None) -> None:
    await conn.execute(INSERT, token_id, user_id, label, secret_hash, scopes, expiration,
                       rate_limit, allowed_cidrs)


async def by_id(conn: asyncpg.Connection, token_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(BY_ID, token_id)


async def page(conn: asyncpg.Connection, user_id: uuid.UUID | None, limit: int,
               offset: int, *, expires_before: datetime | None = None,
               ) -> tuple[list[asyncpg.Record], int]:
    filters = (user_id, expires_before)
    rows = await conn.fetch(PAGE, *filters, limit, offset)
    total = await conn.fetchval(COUNT, *filters)
    return rows, total


async def update(conn: asyncpg.Connection, token_id: uuid.UUID, changes: dict) -> None:
    await conn.execute(
        UPDATE, token_id,
        "label" in changes, changes.get("label"),
        "expiration" in changes, changes.get("expiration"),
        "scopes" in changes, changes.get("scopes"),
        "rate_limit" in changes, changes.get("rate_limit"),
        "allowed_cidrs" in changes, changes.get("allowed_cidrs"),
    )


async def invalidate(conn: asyncpg.Connection, token_id: uuid.UUID,
                     reason: str = "invalidated") -> None:
    await conn.execute(INVALIDATE, token_id, reason)


async def rotate(conn: asyncpg.Connection, token_id: uuid.UUID, secret_hash: bytes,
                 previous_until: datetime | None) -> None:
    await conn.execute(ROTATE, token_id, secret_hash, previous_until)


async def valid_secrets(conn: asyncpg.Connection,
                        token_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(VALID_SECRETS, token_ids)


async def delete(conn: asyncpg.Connection, token_id: uuid.UUID) -> None:
    await conn.execute(DELETE, token_id)
