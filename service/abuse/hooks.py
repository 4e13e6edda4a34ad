"""What the auth middleware and /login call: the only entry points of the abuse limits.

Each hook costs nothing on a successful request beyond a dict check, unless the
token has its own limits (then one bucket update and one network test).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiohttp import web

from service import keys
from service.abuse.client import client_address, source_text
from service.abuse.limits import TokenLimiter, network_allows
from service.abuse.settings import AbuseSettings
from service.abuse.stores import ThrottleStoreUnavailable
from service.abuse.throttle import Subject, Throttle, store_unavailable
from service.audit import repo as audit_repo
from service.audit.recorder import AuditBuffer
from service.auth.apikeys import parse_api_key
from service.auth.principal import Principal
from service.auth.schemes import split_authorization
from service.errors import DATABASE_UNAVAILABLE

log = logging.getLogger("service.abuse")


@dataclass
class Guard:
    """The per-process state of the abuse limits and the login audit buffer."""

    settings: AbuseSettings
    throttle: Throttle
    limiter: TokenLimiter
    audit: AuditBuffer


async def abuse_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (after the pool's): start the audit flusher; flush it at shutdown."""
    settings = app[keys.SETTINGS].abuse
    pool = app[keys.POOL]
    guard = Guard(settings, Throttle(settings, pool), TokenLimiter(), AuditBuffer(pool))
    app[keys.ABUSE] = guard
    guard.audit.start()
    try:
        yield
    finally:
        await guard.audit.close()
        await guard.throttle.close()


def source_of(request: web.Request) -> str:
    return source_text(client_address(request, request.app[keys.SETTINGS].abuse))


def _api_key_subject(header: str) -> Subject | None:
    parts = split_authorization(header)
    if parts is None or parts[0] != "api_key":
        return None
    parsed = parse_api_key(parts[1])
    return Subject.client(parsed[0]) if parsed is not None else None


# --- the auth middleware ------------------------------------------------------------


def before_auth(request: web.Request, header: str) -> None:
    """429 when this source (or this API key from this source) is blocked."""
    throttle = request.app[keys.ABUSE].throttle
    if not throttle.blocks:
        return  # the usual case: no block known to this process
    throttle.check_local(source_of(request), _api_key_subject(header))


def admit(request: web.Request, principal: Principal) -> bool:
    """A verified credential's own limits: False when used outside its networks (a 401);
    429 past its rate limit."""
    if principal.allowed_cidrs is None and principal.rate_limit is None:
        return True
    guard = request.app[keys.ABUSE]
    if principal.allowed_cidrs is not None and not network_allows(
            principal.allowed_cidrs, client_address(request, guard.settings)):
        return False
    if principal.rate_limit is not None and principal.token_id is not None:
        guard.limiter.check(principal.token_id, principal.rate_limit)
    return True


async def auth_failed(request: web.Request, header: str,
                      principal: Principal | None = None) -> None:
    """Count a refused API key (per client ID and source) or a refused address.

    A bad JWT is not counted: it cannot be guessed (HMAC-SHA256), and an expired
    one is what every well-behaved client sends once before logging in again.
    """
    if principal is not None and principal.token_id is not None:
        subject: Subject | None = Subject.client(principal.token_id)  # outside its networks
    else:
        subject = _api_key_subject(header)
        if subject is None and _is_jwt(header):
            return
    try:
        await request.app[keys.ABUSE].throttle.failed(source_of(request), subject)
    except ThrottleStoreUnavailable:
        pass  # the same: the answer stays 401; the store warned once for this outage
    except DATABASE_UNAVAILABLE as exc:
        # The answer stays 401: a garbage key needs no database to be refused, and
        # only the counting is lost while the database is away.
        log.warning("failed authentication not counted: %s", type(exc).__name__)


def _is_jwt(header: str) -> bool:
    parts = split_authorization(header)
    return parts is not None and parts[0] == "jwt"


# --- /login ---------------------------------------------------------------------------


async def check_password_login(request: web.Request, conn: asyncpg.Connection,
                               username: str) -> None:
    """429 when this address may not try this username now (asks the database)."""
    throttle = request.app[keys.ABUSE].throttle
    source, subject = source_of(request), Subject.user(username)
    throttle.check_local(source, subject)
    try:
        await throttle.check_shared(conn, source, subject)
    except ThrottleStoreUnavailable:
        raise store_unavailable() from None


def check_client_login(request: web.Request, client_id: uuid.UUID | None) -> None:
    """429 when this address (or this client ID from it) is blocked (no I/O)."""
    subject = Subject.client(client_id) if client_id is not None else None
    request.app[keys.ABUSE].throttle.check_local(source_of(request), subject)


async def login_failed(request: web.Request, grant: str, *, username: str | None = None,
                       user=None, client_id: uuid.UUID | None = None, reason: str) -> None:
    """Audit a failed login (with its target when it exists) and count it."""
    guard = request.app[keys.ABUSE]
    source = source_of(request)
    target_user_id = user["id"] if user is not None else None
    target_username = user["username"] if user is not None else None
    async with request.app[keys.POOL].acquire() as conn:
        if client_id is not None:
            target_user_id, target_username = await audit_repo.token_owner(conn, client_id)
        # The username typed is kept only when it names a user: an unknown one may be a
        # password typed into the wrong field.
        await audit_repo.insert(conn, audit_repo.Event(
            kind=audit_repo.LOGIN_FAILED, source=None if source == "unknown" else source,
            target_user_id=target_user_id, target_username=target_username,
            target_token_id=client_id,
            details={"grant_type": grant, "reason": reason},
        ))
    if username is not None:
        subject = Subject.user(username)
    else:
        subject = Subject.client(client_id) if client_id is not None else None
    try:
        await guard.throttle.failed(source, subject, target_user_id=target_user_id,
                                    target_username=target_username)
    except ThrottleStoreUnavailable:
        raise store_unavailable() from None


def login_succeeded(request: web.Request, grant: str, *, user_id: uuid.UUID, username: str,
                    token_id: uuid.UUID | None = None) -> None:
    """Queue the audit event of a successful login (written within a second)."""
    source = source_of(request)
    request.app[keys.ABUSE].audit.add(audit_repo.Event(
        kind=audit_repo.LOGIN_SUCCEEDED, actor_user_id=user_id, actor_username=username,
        actor_token_id=token_id, actor_kind=grant,
        source=None if source == "unknown" else source,
        target_user_id=user_id, target_username=username, target_token_id=token_id,
        details={"grant_type": grant}, at=datetime.now(UTC),
    ))
