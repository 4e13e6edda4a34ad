"""Writing audit events: in the caller's transaction for changes, batched for logins.

A change (token or user) is recorded with `record(conn, ...)` inside the
transaction that makes it, so the event exists exactly when the change does. Who
acted and from which address are passed in (`actor`, `source`): the HTTP routes
give the client's address, the `sql:` command line none.
Logins change nothing, and the client-credentials grant must stay fast, so
their events go to a `service.batches.BatchWriter` (`keys.AUDIT`, made by
`login_events`) that writes them in batches (at most a second later, and on
shutdown); `GET /audit` flushes it first, so a process reads its own events.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from service.abuse.client import UNKNOWN_SOURCE
from service.abuse.throttle import BlocksStarted
from service.audit import repo
from service.audit.repo import Event
from service.auth.principal import Principal
from service.batches import BatchWriter
from service.validation import isoformat

LOGIN_FLUSH_SECONDS = 1.0
MAX_BUFFERED_LOGINS = 10_000


def actor_fields(actor: Principal | None) -> dict[str, Any]:
    if actor is None:
        return {}
    if actor.kind == "operator":
        return {"actor_username": actor.username, "actor_kind": actor.kind}
    return {"actor_user_id": actor.user_id, "actor_username": actor.username,
            "actor_token_id": actor.token_id, "actor_kind": actor.kind}


async def record(conn: asyncpg.Connection, kind: str, actor: Principal | None, *,
                 source: str | None, target_user_id: uuid.UUID | None = None,
                 target_username: str | None = None, target_token_id: uuid.UUID | None = None,
                 details: dict[str, Any] | None = None) -> None:
    """Insert one event on `conn` (so inside the caller's transaction). `source` is the
    client's address, None outside a request."""
    await repo.insert(conn, Event(
        kind=kind, source=source, target_user_id=target_user_id,
        target_username=target_username, target_token_id=target_token_id,
        details=details or {}, **actor_fields(actor),
    ))


async def login_failed(conn: asyncpg.Connection, grant: str, *, source: str, reason: str,
                       user_id: uuid.UUID | None, username: str | None,
                       client_id: uuid.UUID | None) -> tuple[uuid.UUID | None, str | None]:
    """Record a failed login at once (it changes nothing, but its trail must not wait).
    Its target: the user tried, when that user exists, or a client ID's owner; returned
    as (id, name) for the throttle's record of a block."""
    if client_id is not None:
        user_id, username = await repo.token_owner(conn, client_id)
    # The username typed is kept only when it names a user: an unknown one may be a
    # password typed into the wrong field.
    await repo.insert(conn, Event(
        kind=repo.LOGIN_FAILED, source=_known(source), target_user_id=user_id,
        target_username=username, target_token_id=client_id,
        details={"grant_type": grant, "reason": reason},
    ))
    return user_id, username


def login_succeeded(grant: str, *, source: str, user_id: uuid.UUID, username: str,
                    token_id: uuid.UUID | None) -> Event:
    """The event of a successful login, for the batch writer (`login_events`)."""
    return Event(
        kind=repo.LOGIN_SUCCEEDED, actor_user_id=user_id, actor_username=username,
        actor_token_id=token_id, actor_kind=grant, source=_known(source),
        target_user_id=user_id, target_username=username, target_token_id=token_id,
        details={"grant_type": grant}, at=datetime.now(UTC),
    )


def _known(source: str) -> str | None:
    """An address as throttling counts it, as the trail stores it (unknown: none)."""
    return None if source == UNKNOWN_SOURCE else source


def login_events(pool: asyncpg.Pool) -> BatchWriter[Event]:
    """Where login events wait to be written: batches of at most a second."""
    return BatchWriter(pool, repo.insert_many, name="audit", interval=LOGIN_FLUSH_SECONDS,
                       limit=MAX_BUFFERED_LOGINS)


def _json(value: Any) -> Any:
    """Details as JSON: times in ISO 8601, networks and ids as text."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, datetime):
        return isoformat(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


async def token_event(conn: asyncpg.Connection, kind: str, actor: Principal | None, row,
                      details: dict[str, Any] | None = None, *, source: str | None) -> None:
    """A token event; `row` is the token as tokens.repo reads it (with its owner)."""
    await record(conn, kind, actor, source=source, target_user_id=row["user_id"],
                 target_username=row["username"], target_token_id=row["id"],
                 details=_json(details or {"label": row["label"]}))


async def user_event(conn: asyncpg.Connection, kind: str, actor: Principal, row,
                     details: dict[str, Any] | None = None, *, source: str | None) -> None:
    """A user event; `row` is the user as users.repo reads it (never its password hash)."""
    await record(conn, kind, actor, source=source, target_user_id=row["id"],
                 target_username=row["username"],
                 details=_json(details or {}))


async def jwt_revoked(conn: asyncpg.Connection, actor: Principal, *, user_id: uuid.UUID,
                      token_id: uuid.UUID | None, jti: str, expires_at: datetime,
                      source: str | None) -> None:
    """A JWT denied until it expires (POST /revoke): the user it was issued to, and the
    token of its client credentials, if any."""
    await record(conn, repo.JWT_REVOKED, actor, source=source, target_user_id=user_id,
                 target_username=await repo.username(conn, user_id), target_token_id=token_id,
                 details=_json({"jti": jti, "expires_at": expires_at}))


async def blocks_started(conn: asyncpg.Connection, started: BlocksStarted) -> None:
    """An `auth.throttled` event per block a failure started (the throttle's `on_blocks`),
    naming the account it protects: a client ID's owner, or the user the caller knew."""
    subject = started.subject
    target_user_id, target_username = started.target_user_id, started.target_username
    token_id = None
    if subject is not None and subject.kind == "client":
        token_id = uuid.UUID(subject.name)
        target_user_id, target_username = await repo.token_owner(conn, token_id)
    source = _known(started.source)
    for rule, failures, seconds in started.blocks:
        await repo.insert(conn, Event(
            kind=repo.AUTH_THROTTLED, source=source,
            target_user_id=target_user_id, target_username=target_username,
            target_token_id=token_id,
            details={"rule": rule, "failures": failures, "blocked_seconds": seconds},
        ))
