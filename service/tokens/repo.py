"""Tokens in PostgreSQL. Plain functions taking a connection; the caller owns the transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from service.db import like_escape

_SELECT = """
SELECT t.id, t.user_id, u.username, u.type AS user_type, u.scopes AS user_scopes,
       t.label, t.scopes, t.expiration, t.created_at, t.invalidated_at, t.last_used_at,
       t.rate_limit, t.allowed_cidrs, t.pipes, t.previous_secret_expires_at,
       t.invalidated_reason, t.recent_sources
FROM tokens t LEFT JOIN users u ON u.id = t.user_id
"""

INSERT = """
INSERT INTO tokens (id, user_id, label, secret_hash, scopes, expiration, rate_limit,
                    allowed_cidrs, pipes)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""
BY_ID = _SELECT + "WHERE t.id = $1"
# The listing's filters, each NULL for "any". $1 owner id; $2 a LIKE pattern the label or
# the owner's name contains, $3 one the client ID starts with (both escaped by `like_escape`);
# $4 a scope the token holds; $5 a state (see STATES); $6 now; $7 until when a valid
# token's expiry counts as soon; $8 a time a valid token expires before. The states match
# the console's status badge: invalidated wins over expired, and a deleted owner's tokens
# are invalidated with the owner.
STATES = ("valid", "expiring_soon", "invalidated", "expired")
_FILTER = """
WHERE ($1::uuid IS NULL OR t.user_id = $1)
  AND ($2::text IS NULL OR t.label ILIKE $2 OR u.username ILIKE $2 OR t.id::text LIKE $3)
  AND ($4::text IS NULL OR $4 = ANY(t.scopes))
  AND ($5::text IS NULL
       OR ($5 IN ('valid', 'expiring_soon') AND t.invalidated_at IS NULL
           AND u.id IS NOT NULL AND (t.expiration IS NULL OR t.expiration > $6)
           AND ($5 = 'valid' OR t.expiration <= $7))
       OR ($5 = 'invalidated' AND t.invalidated_at IS NOT NULL)
       OR ($5 = 'expired' AND t.invalidated_at IS NULL AND t.expiration <= $6))
  AND ($8::timestamptz IS NULL OR (t.expiration < $8 AND t.expiration > $6
                                    AND t.invalidated_at IS NULL AND u.id IS NOT NULL))
"""
# (sort, order) -> ORDER BY, from constants only. A token that never expires sorts as the
# latest expiry; one never used sorts last either way.
_ORDERS = {
    ("created", "desc"): "t.created_at DESC, t.id",
    ("created", "asc"): "t.created_at ASC, t.id",
    ("expires", "desc"): "t.expiration DESC NULLS FIRST, t.created_at DESC, t.id",
    ("expires", "asc"): "t.expiration ASC NULLS LAST, t.created_at DESC, t.id",
    ("last_used", "desc"): "t.last_used_at DESC NULLS LAST, t.created_at DESC, t.id",
    ("last_used", "asc"): "t.last_used_at ASC NULLS LAST, t.created_at DESC, t.id",
}
SORTS = ("created", "expires", "last_used")
PAGES = {key: _SELECT + _FILTER + "ORDER BY " + clause + "\nLIMIT $9 OFFSET $10"
         for key, clause in _ORDERS.items()}
COUNT = "SELECT count(*) FROM tokens t LEFT JOIN users u ON u.id = t.user_id" + _FILTER  # noqa: S608 (constants only)


@dataclass(frozen=True)
class Filters:
    """What GET /tokens narrows the listing to; None is "any"."""

    owner_id: uuid.UUID | None = None
    text: str | None = None  # in the label or the owner's name, or a client ID prefix
    scope: str | None = None
    state: str | None = None
    expires_before: datetime | None = None  # valid, and expiring before then
    soon: timedelta = timedelta(days=7)  # "expiring soon": TOKEN_EXPIRY_WARNING_DAYS


NO_FILTERS = Filters()


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
                 allowed_cidrs: list | None = None, pipes: list[str] | None = None) -> None:
    await conn.execute(INSERT, token_id, user_id, label, secret_hash, scopes, expiration,
                       rate_limit, allowed_cidrs, pipes)


async def by_id(conn: asyncpg.Connection, token_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(BY_ID, token_id)


async def page(conn: asyncpg.Connection, filters: Filters, limit: int, offset: int, *,
               sort: str = "created", order: str = "desc",
               now: datetime) -> tuple[list[asyncpg.Record], int]:
    """One page of the tokens `filters` lets through, and how many it lets through in all."""
    text = filters.text
    args = (filters.owner_id,
            None if text is None else f"%{like_escape(text)}%",
            None if text is None else f"{like_escape(text.lower())}%",
            filters.scope, filters.state, now, now + filters.soon, filters.expires_before)
    rows = await conn.fetch(PAGES[sort, order], *args, limit, offset)
    total = await conn.fetchval(COUNT, *args)
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
