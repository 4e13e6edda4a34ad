"""Audit events in PostgreSQL. Plain functions taking a connection; the caller owns the transaction.

The table is append-only (a trigger refuses UPDATE and DELETE), so there is
nothing here but inserting and reading.
"""

from __future__ import annotations

import json
import operator
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import asyncpg

# Every kind of event, in the order the README lists them.
TOKEN_REGISTERED = "token.registered"  # noqa: S105 (an event kind)
TOKEN_EDITED = "token.edited"  # noqa: S105 (an event kind)
TOKEN_INVALIDATED = "token.invalidated"  # noqa: S105 (an event kind)
TOKEN_DELETED = "token.deleted"  # noqa: S105 (an event kind)
TOKEN_ROTATED = "token.rotated"  # noqa: S105 (an event kind)
TOKEN_LEAKED = "token.leaked"  # noqa: S105 (an event kind)
JWT_REVOKED = "jwt.revoked"
USER_CREATED = "user.created"
USER_CHANGED = "user.changed"
USER_DELETED = "user.deleted"
LOGIN_SUCCEEDED = "login.succeeded"
LOGIN_FAILED = "login.failed"
AUTH_THROTTLED = "auth.throttled"
KINDS = (TOKEN_REGISTERED, TOKEN_EDITED, TOKEN_INVALIDATED, TOKEN_DELETED, TOKEN_ROTATED,
         TOKEN_LEAKED, JWT_REVOKED, USER_CREATED,
         USER_CHANGED, USER_DELETED, LOGIN_SUCCEEDED, LOGIN_FAILED, AUTH_THROTTLED)


@dataclass(frozen=True)
class Event:
    """One row of `audit_events`, in column order (without id and time)."""

    kind: str
    actor_user_id: uuid.UUID | None = None
    actor_username: str | None = None
    actor_token_id: uuid.UUID | None = None
    actor_kind: str | None = None
    source: str | None = None
    target_user_id: uuid.UUID | None = None
    target_username: str | None = None
    target_token_id: uuid.UUID | None = None
    details: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None  # when it happened, if not now (buffered events)


# An event's values in column order. Not dataclasses.astuple: it deep-copies every value
# (the details dict), which made writing a busy second of login events a measurable cost.
_row = operator.attrgetter(*(f.name for f in fields(Event)))


INSERT = """
INSERT INTO audit_events (kind, actor_user_id, actor_username, actor_token_id, actor_kind,
                          source, target_user_id, target_username, target_token_id, details,
                          at)
VALUES ($1, $2, $3, $4, $5, $6::inet, $7, $8, $9, $10, coalesce($11, now()))
"""
INSERT_MANY = """
INSERT INTO audit_events (kind, actor_user_id, actor_username, actor_token_id, actor_kind,
                          source, target_user_id, target_username, target_token_id, details,
                          at)
SELECT kind, actor_user_id, actor_username, actor_token_id, actor_kind, source::inet,
       target_user_id, target_username, target_token_id, details::jsonb, coalesce(at, now())
FROM unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[],
            $7::uuid[], $8::text[], $9::uuid[], $10::text[], $11::timestamptz[])
     AS e(kind, actor_user_id, actor_username, actor_token_id, actor_kind, source,
          target_user_id, target_username, target_token_id, details, at)
"""
# Filters, each NULL for "any": $1 username (actor or target, without regard to case),
# $2 token id (actor or target), $3 kind, $4 from (inclusive), $5 until (exclusive),
# $6 the only user id a regular caller may see (actor or target).
_WHERE = """
WHERE ($1::text IS NULL OR lower(actor_username) = lower($1) OR lower(target_username) = lower($1))
  AND ($2::uuid IS NULL OR actor_token_id = $2 OR target_token_id = $2)
  AND ($3::text IS NULL OR kind = $3)
  AND ($4::timestamptz IS NULL OR at >= $4)
  AND ($5::timestamptz IS NULL OR at < $5)
  AND ($6::uuid IS NULL OR actor_user_id = $6 OR target_user_id = $6)
"""
PAGE = """
SELECT id, at, kind, actor_user_id, actor_username, actor_token_id, actor_kind,
       host(source) AS source, target_user_id, target_username, target_token_id, details
FROM audit_events
""" + _WHERE + """
ORDER BY at DESC, id DESC
LIMIT $7 OFFSET $8
"""
COUNT = "SELECT count(*) FROM audit_events" + _WHERE  # noqa: S608 (constants only)
USERNAME_BY_ID = "SELECT username FROM users WHERE id = $1"
OWNER_BY_ID = """
SELECT t.user_id, u.username FROM tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.id = $1
"""


async def insert(conn: asyncpg.Connection, event: Event) -> None:
    await conn.execute(INSERT, *_row(event))


async def insert_many(conn: asyncpg.Connection, events: Iterable[Event]) -> None:
    """Many events in one statement (one array per column): a busy second of logins
    costs one round trip, not one per event."""
    rows = [_row(e) for e in events]
    if not rows:
        return
    columns = [list(c) for c in zip(*rows, strict=True)]
    columns[9] = [json.dumps(d) for d in columns[9]]  # details, as text for the unnest
    await conn.execute(INSERT_MANY, *columns)


async def page(conn: asyncpg.Connection, *, username: str | None, token_id: uuid.UUID | None,
               kind: str | None, since: datetime | None, until: datetime | None,
               only_user_id: uuid.UUID | None, limit: int,
               offset: int) -> tuple[Sequence[asyncpg.Record], int]:
    """Newest first, and how many match in all."""
    filters = (username, token_id, kind, since, until, only_user_id)
    rows = await conn.fetch(PAGE, *filters, limit, offset)
    total = await conn.fetchval(COUNT, *filters)
    return rows, total


async def username(conn: asyncpg.Connection, user_id: uuid.UUID) -> str | None:
    return await conn.fetchval(USERNAME_BY_ID, user_id)


async def token_owner(conn: asyncpg.Connection,
                      token_id: uuid.UUID) -> tuple[uuid.UUID | None, str | None]:
    """(owner id, owner name) of a token, or (None, None): to show its owner failures on it."""
    row = await conn.fetchrow(OWNER_BY_ID, token_id)
    return (row["user_id"], row["username"]) if row is not None else (None, None)
