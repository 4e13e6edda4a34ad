"""Users in PostgreSQL. Plain functions taking a connection; the caller owns the transaction."""

from __future__ import annotations

import re
import uuid

import asyncpg

INSERT = """
INSERT INTO users (id, username, password_hash, type, scopes)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, username, password_hash, password_version, type, scopes, created_at
"""
BY_NAME = """
SELECT id, username, password_hash, password_version, type, scopes, created_at
FROM users WHERE lower(username) = lower($1)
"""
BY_ID = """
SELECT id, username, password_hash, password_version, type, scopes, created_at
FROM users WHERE id = $1
"""
# $3: a LIKE pattern the username matches (any case), or NULL for everyone.
LIST = """
SELECT id, username, password_hash, password_version, type, scopes, created_at,
       count(*) OVER () AS total
FROM users
WHERE ($3::text IS NULL OR username ILIKE $3)
ORDER BY lower(username) LIMIT $1 OFFSET $2
"""
COUNT = "SELECT count(*) FROM users"
COUNT_LIKE = "SELECT count(*) FROM users WHERE ($1::text IS NULL OR username ILIKE $1)"
COUNT_ADMINS = "SELECT count(*) FROM users WHERE type = 'admin'"
UPDATE = """
UPDATE users SET
    password_hash = coalesce($2, password_hash),
    password_version = password_version + CASE WHEN $2::text IS NULL THEN 0 ELSE 1 END,
    type = coalesce($3, type),
    scopes = coalesce($4, scopes),
    updated_at = now()
WHERE id = $1
RETURNING id, username, password_hash, password_version, type, scopes, created_at
"""
# A rehash on login keeps the same password: JWTs already issued stay valid. Only over
# the hash that was verified: a password change committed meanwhile must not be undone.
REHASH = "UPDATE users SET password_hash = $2 WHERE id = $1 AND password_hash = $3"
INVALIDATE_TOKENS = """
UPDATE tokens SET invalidated_at = coalesce(invalidated_at, now()) WHERE user_id = $1
"""
DELETE = "DELETE FROM users WHERE id = $1"


async def insert(conn: asyncpg.Connection, *, username: str, password_hash: str,
                 type_: str, scopes: list[str]) -> asyncpg.Record:
    return await conn.fetchrow(INSERT, uuid.uuid4(), username, password_hash, type_, scopes)


# A name the users CHECK refuses matches no row; asking PostgreSQL anyway fails on a NUL
# (a 500 from /login or /users/{username}).
_POSSIBLE_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,60}")


async def by_name(conn: asyncpg.Connection, username: str) -> asyncpg.Record | None:
    if _POSSIBLE_NAME.fullmatch(username) is None:
        return None
    return await conn.fetchrow(BY_NAME, username)


async def by_id(conn: asyncpg.Connection, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(BY_ID, user_id)


async def page(conn: asyncpg.Connection, limit: int, offset: int,
               pattern: str | None = None) -> tuple[list, int]:
    """Users by name (those whose name matches `pattern`, a LIKE pattern), and how many."""
    rows = await conn.fetch(LIST, limit, offset, pattern)
    total = rows[0]["total"] if rows else await conn.fetchval(COUNT_LIKE, pattern)
    return rows, total


async def count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval(COUNT)


async def count_admins(conn: asyncpg.Connection) -> int:
    return await conn.fetchval(COUNT_ADMINS)


async def update(conn: asyncpg.Connection, user_id: uuid.UUID, *, password_hash: str | None,
                 type_: str | None, scopes: list[str] | None) -> asyncpg.Record | None:
    return await conn.fetchrow(UPDATE, user_id, password_hash, type_, scopes)


async def rehash(conn: asyncpg.Connection, user_id: uuid.UUID, password_hash: str,
                 verified_hash: str) -> None:
    await conn.execute(REHASH, user_id, password_hash, verified_hash)


async def delete(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Invalidate the user's tokens (kept, ownerless), then delete the user."""
    await conn.execute(INVALIDATE_TOKENS, user_id)
    await conn.execute(DELETE, user_id)
