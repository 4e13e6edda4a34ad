"""Token rules, shared by the HTTP routes and the `sql:` command line.

Every function takes the acting `Principal` and raises `ApiError` for a refusal,
so the HTTP API, the CLI and the Python API refuse the same things the same way.
Changes also take `source`, the client's address for the audit row (None outside a
request), and are audited on the caller's connection, in its transaction.

A credential cannot outlive its maker: when the actor is a token (its API key or its
JWT from client credentials), no expiration it sets, on a new token or an existing one,
itself included, may be later than its own (`capped_expiration`). Otherwise a token
leaked for an hour could mint, or become, a key that never expires. Likewise for the
pipes a token may reach (`capped_pipes`): an actor bound to pipes can give no token,
itself included, a pipe beyond its own patterns.
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from service.audit import recorder as audit
from service.audit import repo as audit_repo
from service.auth import apikeys
from service.auth.pipe_access import Pattern
from service.auth.principal import Principal, user_scopes
from service.auth.scopes import ALL_SCOPES, order
from service.config import Settings
from service.errors import ApiError, not_found
from service.tokens import repo
from service.tokens.schemas import DEFAULT_OVERLAP_SECONDS, token_out
from service.users import repo as users_repo
from service.validation import isoformat

# The database's operator (the `sql:` CLI): sees and may change everything.
OPERATOR = Principal(user_id=uuid.UUID(int=0), username="(operator)", user_type="admin",
                     scopes=ALL_SCOPES, kind="operator")

_WORDS = ("amber", "brisk", "cedar", "delta", "ember", "fjord", "grove", "harbor", "iris",
          "juniper", "kestrel", "lumen", "maple", "nova", "onyx", "pine", "quartz", "river",
          "sierra", "tundra", "umber", "vale", "willow", "xenon", "yarrow", "zephyr")


def generate_label() -> str:
    return f"token-{secrets.choice(_WORDS)}-{secrets.choice(_WORDS)}-{secrets.token_hex(2)}"


def resolve_expiration(settings: Settings, given: bool, value: datetime | None,
                       now: datetime) -> datetime | None:
    """The expiration to store: the default when not given; None means never."""
    limit = (now + timedelta(days=settings.token_max_ttl_days)
             if settings.token_max_ttl_days is not None else None)
    if not given:
        default = now + timedelta(days=settings.token_default_ttl_days)
        return min(default, limit) if limit else default
    if value is None:
        if limit is not None:
            raise _bad_expiration(f"tokens must expire within {settings.token_max_ttl_days} days")
        return None
    if value <= now:
        raise _bad_expiration("must be in the future")
    if limit is not None and value > limit:
        raise _bad_expiration(f"must be within {settings.token_max_ttl_days} days from now")
    return value


def capped_expiration(settings: Settings, actor: Principal, given: bool,
                      value: datetime | None, now: datetime) -> datetime | None:
    """`resolve_expiration`, then no later than the acting token's own expiration: a
    token without one, and every other actor, is not capped. Omitted: the default, capped;
    never (None) or later: 422."""
    chosen = resolve_expiration(settings, given, value, now)
    cap = actor.expires_at if actor.token_id is not None else None
    if cap is None:
        return chosen
    if not given and chosen is not None:
        return min(chosen, cap)
    if chosen is None or chosen > cap:
        raise _bad_expiration(
            f"must be no later than {isoformat(cap)}, when the token making this request "
            "expires")
    return chosen


def _bad_expiration(message: str) -> ApiError:
    return ApiError(422, "validation_error", f"The expiration is not allowed: {message}.",
                    fields={"expiration": [message]})


INHERIT = object()  # `pipes` not given on creation: those of the actor (every pipe if unbound)


def capped_pipes(actor: Principal, requested) -> list[str] | None:
    """The patterns to store: `requested` (None: every pipe) when the actor reaches every
    pipe it names; INHERIT: the actor's own. An actor that is not bound (an unbound
    token, a password login, the operator) may set anything."""
    reach = actor.pipes
    if requested is INHERIT:
        return reach.texts() if reach is not None else None
    if reach is None:
        return requested
    if requested is None:
        raise _bad_pipes("every pipe is more than the credential making this request may "
                         f"reach ({_listed(reach.texts())})")
    wider = [t for t in requested if not reach.covers(Pattern.parse(t))]
    if wider:
        raise _bad_pipes(f"{_listed(wider)}: not within the pipes of the credential making "
                         f"this request ({_listed(reach.texts())})")
    return requested


def _listed(texts: list[str]) -> str:
    return ", ".join(texts) if texts else "no pipe"


def _bad_pipes(message: str) -> ApiError:
    return ApiError(422, "validation_error", f"The pipes are not allowed: {message}; a token "
                    "can never reach more pipes than the one who makes it.",
                    fields={"pipes": [message]})


def resolve_scopes(requested: list[str] | None, owner_scopes: frozenset[str],
                   caller_scopes: frozenset[str]) -> list[str]:
    """Omitted: what owner and caller both hold. Given: each must be held by both (else 403)."""
    if requested is None:
        return order(owner_scopes & caller_scopes)
    not_owner = [s for s in requested if s not in owner_scopes]
    if not_owner:
        raise ApiError(403, "forbidden",
                       f"The token's owner does not hold: {' '.join(order(not_owner))}.")
    not_caller = [s for s in requested if s not in caller_scopes]
    if not_caller:
        raise ApiError(403, "forbidden",
                       f"Your credential does not hold: {' '.join(order(not_caller))}; "
                       "a token can never have wider scopes than the one who makes it.")
    return order(requested)


def owner_scopes_of(row) -> frozenset[str]:
    if row["user_type"] is None:
        return frozenset()
    return user_scopes(row["user_type"], row["user_scopes"])


async def visible_token(conn: asyncpg.Connection, actor: Principal,
                        token_id: uuid.UUID | str) -> asyncpg.Record:
    """The token, or 404 when it does not exist or (for a non-admin) is someone else's."""
    if not isinstance(token_id, uuid.UUID):
        parsed = apikeys.parse_client_id(token_id)
        if parsed is None:
            raise not_found("token")
        token_id = parsed
    row = await repo.by_id(conn, token_id)
    if row is None or (not actor.is_admin and row["user_id"] != actor.user_id):
        raise not_found("token")
    return row


async def register(conn: asyncpg.Connection, settings: Settings, actor: Principal, *,
                   source: str | None = None, label: str | None = None,
                   expiration_given: bool = False, expiration: datetime | None = None,
                   scopes: list[str] | None = None, username: str | None = None,
                   rate_limit: int | None = None, allowed_cidrs: list | None = None,
                   pipes=INHERIT) -> dict:
    """Create a token; returns its representation with `secret` and `api_key` (the only time)."""
    now = datetime.now(UTC)
    if username is None or username.lower() == actor.username.lower():
        if actor.kind == "operator":
            raise ApiError(422, "validation_error", "Name the token's owner.",
                           fields={"user": ["required"]})
        owner = await users_repo.by_id(conn, actor.user_id)
    elif not actor.is_admin:
        raise ApiError(403, "forbidden", "Only an admin may register a token for another user.")
    else:
        owner = await users_repo.by_name(conn, username)
        if owner is None:
            raise ApiError(422, "validation_error", f"There is no user '{username}'.",
                           fields={"user": ["no such user"]})
    if owner is None:
        raise not_found("user")
    chosen_scopes = resolve_scopes(scopes, user_scopes(owner["type"], owner["scopes"]),
                                   actor.scopes)
    chosen_expiration = capped_expiration(settings, actor, expiration_given, expiration, now)
    chosen_pipes = capped_pipes(actor, pipes)
    token_id = uuid.uuid4()
    secret = apikeys.new_secret()
    try:
        await repo.insert(conn, token_id=token_id, user_id=owner["id"],
                          label=label or generate_label(),
                          secret_hash=apikeys.hash_secret(secret), scopes=chosen_scopes,
                          expiration=chosen_expiration, rate_limit=rate_limit,
                          allowed_cidrs=allowed_cidrs, pipes=chosen_pipes)
    except asyncpg.UniqueViolationError:
        raise ApiError(409, "conflict",
                       f"{owner['username']} already has a token labelled '{label}'.") from None
    row = await repo.by_id(conn, token_id)
    out = token_out(row, now)
    # Audited in the transaction that registers it (never the secret).
    await audit.token_event(conn, audit_repo.TOKEN_REGISTERED, actor, row, {
        k: out[k] for k in ("label", "scopes", "expiration", "rate_limit", "allowed_cidrs",
                            "pipes")},
        source=source)
    out["secret"] = secret
    out["api_key"] = apikeys.make_api_key(token_id, secret)
    return out


async def edit(conn: asyncpg.Connection, settings: Settings, actor: Principal,
               token_id: uuid.UUID | str, changes: dict, *, source: str | None = None) -> dict:
    """Change label, expiration, scopes or pipes, under the same rules as creation."""
    row = await visible_token(conn, actor, token_id)
    now = datetime.now(UTC)
    update = {}
    if "label" in changes:
        update["label"] = changes["label"]
    if "expiration" in changes:
        update["expiration"] = capped_expiration(settings, actor, True, changes["expiration"],
                                                 now)
    if "scopes" in changes:
        update["scopes"] = resolve_scopes(changes["scopes"], owner_scopes_of(row), actor.scopes)
    if "pipes" in changes:
        update["pipes"] = capped_pipes(actor, changes["pipes"])
    for name in ("rate_limit", "allowed_cidrs"):
        if name in changes:
            update[name] = changes[name]
    if update:
        try:
            await repo.update(conn, row["id"], update)
        except asyncpg.UniqueViolationError:
            raise ApiError(409, "conflict",
                           f"The owner already has a token labelled '{update['label']}'.") from None
        await audit.token_event(conn, audit_repo.TOKEN_EDITED, actor, row,
                                {"label": row["label"], "changes": update}, source=source)
    return token_out(await repo.by_id(conn, row["id"]), now)


async def invalidate(conn: asyncpg.Connection, actor: Principal,
                     token_id: uuid.UUID | str, *, source: str | None = None) -> dict:
    row = await visible_token(conn, actor, token_id)
    await repo.invalidate(conn, row["id"])
    await audit.token_event(conn, audit_repo.TOKEN_INVALIDATED, actor, row, source=source)
    return token_out(await repo.by_id(conn, row["id"]), datetime.now(UTC))


def _may_hold_secret_of(actor: Principal, row: asyncpg.Record) -> None:
    """A rotation hands its caller the token's new secret, so a token credential may rotate
    only itself or a token that can do no more than it: no scope it lacks, no pipe beyond
    its reach, no later expiration. Otherwise one key could mint a stronger one."""
    if actor.token_id is None or actor.token_id == row["id"]:
        return
    extra = sorted(set(row["scopes"]) - actor.scopes)
    reach = actor.pipes
    beyond_pipes = reach is not None and (
        row["pipes"] is None or not all(reach.covers(Pattern.parse(t)) for t in row["pipes"]))
    cap = actor.expires_at
    outlives = cap is not None and (row["expiration"] is None or row["expiration"] > cap)
    if extra or beyond_pipes or outlives:
        what = (f"scopes {', '.join(extra)}" if extra else
                "pipes beyond this credential's" if beyond_pipes else "a later expiration")
        raise ApiError(403, "forbidden", f"This credential may not rotate a token that can do "
                       f"more than it ({what}); rotate it with a password session or a "
                       "token that holds as much.")


async def rotate(conn: asyncpg.Connection, actor: Principal, token_id: uuid.UUID | str, *,
                 overlap_seconds: int = DEFAULT_OVERLAP_SECONDS,
                 source: str | None = None) -> dict:
    """A new secret for the token, which keeps everything else; the previous secret works
    for `overlap_seconds` more (0: it, and every JWT issued before, end now). Returns the
    representation with the new `secret` and `api_key` (the only time)."""
    row = await visible_token(conn, actor, token_id)
    now = datetime.now(UTC)
    if row["invalidated_at"] is not None or row["username"] is None:
        raise ApiError(409, "conflict", "An invalidated token cannot be rotated.")
    _may_hold_secret_of(actor, row)
    if row["expiration"] is not None and row["expiration"] <= now:
        raise ApiError(409, "conflict", "An expired token cannot be rotated.")
    secret = apikeys.new_secret()
    until = now + timedelta(seconds=overlap_seconds) if overlap_seconds else None
    await repo.rotate(conn, row["id"], apikeys.hash_secret(secret), until)
    await audit.token_event(conn, audit_repo.TOKEN_ROTATED, actor, row, {
        "label": row["label"], "overlap_seconds": overlap_seconds,
        "previous_secret_expires_at": isoformat(until) if until else None}, source=source)
    out = token_out(await repo.by_id(conn, row["id"]), now)
    out["secret"] = secret
    out["api_key"] = apikeys.make_api_key(row["id"], secret)
    return out


async def delete(conn: asyncpg.Connection, actor: Principal,
                 token_id: uuid.UUID | str, *, source: str | None = None) -> uuid.UUID:
    row = await visible_token(conn, actor, token_id)
    await repo.delete(conn, row["id"])
    await audit.token_event(conn, audit_repo.TOKEN_DELETED, actor, row, source=source)
    return row["id"]


def filters_of(query: dict, settings: Settings) -> repo.Filters:
    """The listing's filters from a validated TokenQuerySchema (`user` is `listing`'s);
    "expiring soon" is within the days the console warns of."""
    return repo.Filters(text=query.get("q"), scope=query.get("scope"), state=query.get("state"),
                        expires_before=query.get("expires_before"),
                        soon=timedelta(days=settings.token_expiry_warning_days))


async def listing(conn: asyncpg.Connection, actor: Principal, *, username: str | None,
                  limit: int, offset: int, filters: repo.Filters = repo.NO_FILTERS,
                  sort: str = "created", order: str = "desc") -> dict:
    """Admins see every token (ownerless ones too) and may filter by owner; users see
    their own. `filters` (its owner aside) narrows either."""
    owner_id = None
    if username is not None:
        if not actor.is_admin and username.lower() != actor.username.lower():
            raise ApiError(403, "forbidden", "Only an admin may list another user's tokens.")
        owner = await users_repo.by_name(conn, username)
        if owner is None:
            return {"items": [], "total": 0, "limit": limit, "offset": offset}
        owner_id = owner["id"]
    elif not actor.is_admin:
        owner_id = actor.user_id
    now = datetime.now(UTC)
    rows, total = await repo.page(conn, dataclasses.replace(filters, owner_id=owner_id),
                                  limit, offset, sort=sort, order=order, now=now)
    return {"items": [token_out(r, now) for r in rows], "total": total,
            "limit": limit, "offset": offset}
