"""Checking a credential against the database: API keys and JWTs."""

from __future__ import annotations

import hmac
import uuid
from datetime import UTC, datetime

import asyncpg

from service.auth import apikeys
from service.auth.jwt import Claims
from service.auth.pipe_access import access_of
from service.auth.principal import Principal, notices_for, token_scopes, user_scopes

# A token joined with its owner; ownerless tokens never authenticate (no row).
KEY_WITH_OWNER = """
SELECT t.id, t.label, t.secret_hash, t.scopes AS token_scopes, t.expiration,
       t.invalidated_at, u.id AS user_id, u.username, u.type, u.scopes AS user_scopes,
       u.created_at AS user_created_at, t.rate_limit, t.allowed_cidrs, t.pipes,
       t.previous_secret_hash, t.previous_secret_expires_at, t.secret_version,
       t.jwt_min_version
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
                             pipes_claimed: tuple[str, ...] | None = None,
                             rotated_until: datetime | None = None) -> Principal:
    """`rotated_until`: the credential is the token's previous secret, valid until then."""
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
        secret_version=row["secret_version"],
        rotated_until=rotated_until,
        notices=notices_for(row["expiration"], rotated_until),
    )


def previous_secret_live(row: asyncpg.Record, now: datetime) -> bool:
    until = row["previous_secret_expires_at"]
    return row["previous_secret_hash"] is not None and until is not None and until > now


def matching_secret(row: asyncpg.Record, secret: str, now: datetime) -> str | None:
    """Which of the token's secrets `secret` is: "current", "previous" (within its
    overlap) or None. Both hashes are compared, so the time says nothing of which."""
    digest = apikeys.hash_secret(secret)
    current = hmac.compare_digest(digest, bytes(row["secret_hash"]))
    previous_hash = row["previous_secret_hash"]
    previous = previous_hash is not None and hmac.compare_digest(digest, bytes(previous_hash))
    if current:
        return "current"
    if previous and previous_secret_live(row, now):
        return "previous"
    return None


async def check_client_secret(conn: asyncpg.Connection, client_id: uuid.UUID,
                              secret: str, kind: str) -> Principal | None:
    """The usable token's principal (`kind`) when `secret` is its secret, or its previous
    one during an overlap (then `rotated_until` says until when); else None."""
    if not apikeys.secret_well_formed(secret):
        return None
    row = await conn.fetchrow(KEY_WITH_OWNER, client_id)
    if row is None:
        return None
    now = datetime.now(UTC)
    which = matching_secret(row, secret, now)
    if which is None or not token_usable(row, now):
        return None
    rotated_until = row["previous_secret_expires_at"] if which == "previous" else None
    return principal_from_token_row(row, kind, rotated_until=rotated_until)


async def principal_from_claims(conn: asyncpg.Connection, claims: Claims) -> Principal | None:
    """Re-check a JWT's grant against the database: it dies with its token or user."""
    if claims.token_id is not None:
        row = await conn.fetchrow(KEY_WITH_OWNER, claims.token_id)
        if row is None or row["user_id"] != claims.user_id or not token_usable(row):
            return None
        # A rotation without an overlap ends every JWT issued before it.
        if (claims.secret_version or 0) < row["jwt_min_version"]:
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

