"""Checking a credential against the database: API keys and JWTs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from service.auth import apikeys
from service.auth.jwt import Claims
from service.auth.pipe_access import access_of
from service.auth.principal import Principal, token_scopes, user_scopes

# A token joined with its owner; ownerless tokens never authenticate (no row).
KEY_WITH_OWNER = """
SELECT t.id, t.label, t.secret_hash, t.scopes AS token_scopes, t.expiration,
       t.invalidated_at, u.id AS user_id, u.username, u.type, u.scopes AS user_scopes,
       u.created_at AS user_created_at, t.rate_limit, t.allowed_cidrs, t.pipes
FROM tokens t JOIN users u ON u.id = t.user_id
WHERE t.id = $1
"""

USER_BY_ID = """
SELECT id, username, type, scopes, password_version, created_at FROM users WHERE id = $1
"""


def token_usable(row: asyncpg.Record, now: datetime | None = None) -> bool:
    now = now or datetime.now(UTC)
    return row["invalidated_at"] is None and (row["expiration"] is None or row["expiration"] > now)


def principal_from_token_row(row: asyncpg.Record, kind: str,
                             narrowed_to: frozenset[str] | None = None,
                             pipes_claimed: tuple[str, ...] | None = None) -> Principal:
    scopes = token_scopes(row["type"], row["user_scopes"], row["token_scopes"])
    if narrowed_to is not None:
        scopes &= narrowed_to
    return Principal(
        user_id=row["user_id"],
        username=row["username"],
        user_type=row["type"],
        scopes=scopes,
        kind=kind,
        token_id=row["id"],
        token_label=row["label"],
        expires_at=row["expiration"],
        user_created_at=row["user_created_at"],
        rate_limit=row["rate_limit"],
        allowed_cidrs=tuple(row["allowed_cidrs"]) if row["allowed_cidrs"] is not None else None,
        pipes=access_of(row["pipes"], pipes_claimed),
    )


async def check_client_secret(conn: asyncpg.Connection, client_id: uuid.UUID,
                              secret: str) -> asyncpg.Record | None:
    """The token row when `secret` is the usable token's secret; else None."""
    if not apikeys.secret_well_formed(secret):
        return None
    row = await conn.fetchrow(KEY_WITH_OWNER, client_id)
    if row is None or not apikeys.secret_matches(secret, row["secret_hash"]):
        return None
    return row if token_usable(row) else None


async def principal_from_claims(conn: asyncpg.Connection, claims: Claims) -> Principal | None:
    """Re-check a JWT's grant against the database: it dies with its token or user."""
    if claims.token_id is not None:
        row = await conn.fetchrow(KEY_WITH_OWNER, claims.token_id)
        if row is None or row["user_id"] != claims.user_id or not token_usable(row):
            return None
        return principal_from_token_row(row, "jwt", narrowed_to=claims.scopes,
                                        pipes_claimed=claims.pipes)
    user = await conn.fetchrow(USER_BY_ID, claims.user_id)
    if user is None or user["password_version"] != claims.password_version:
        return None
    return Principal(
        user_id=user["id"],
        username=user["username"],
        user_type=user["type"],
        scopes=claims.scopes & user_scopes(user["type"], user["scopes"]),
        kind="jwt",
        user_created_at=user["created_at"],
    )

