"""User rules, shared by the HTTP routes, the `sql:` command line and the first-admin bootstrap.

As in `service.tokens.ops`: a change takes the acting `Principal` and `source` (the
client's address for the audit row, None outside a request), raises `ApiError` for a
refusal, and is audited on the caller's connection, in the transaction the caller
opened, so the event exists exactly when the change does.

Argon2 is slow on purpose, so each password step says where its work happens: `register`
hashes on the caller's connection (as POST /users always has); `update` and
`set_own_password` take a hash made before the caller's transaction; `verify_own_password`
is for before any transaction.

Changing one's own password takes a person's session (a JWT from the password grant), and
a wrong current password is a failed password attempt like a wrong /login: the same
throttle counts it and the same `login.failed` event records it. Otherwise a stolen
read-only device key could guess the password at leisure and take the account over.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import asyncpg

from service.abuse.guard import AbuseGuard
from service.abuse.throttle import Subject
from service.audit import recorder as audit
from service.audit import repo as audit_repo
from service.auth.errors import insufficient_scope
from service.auth.passwords import PasswordHasher
from service.auth.principal import Principal, user_scopes
from service.auth.scopes import ADMIN_ONLY_SCOPES, DEFAULT_USER_SCOPES
from service.db import like_escape
from service.errors import ApiError, not_found
from service.users import repo
from service.users.schemas import user_out


def stored_scopes(type_: str, scopes: list[str] | None) -> list[str]:
    """What to store for a user; admin-only scopes on a regular user are a 422."""
    if scopes is None:
        return list(DEFAULT_USER_SCOPES)
    if type_ != "admin":
        refused = [s for s in scopes if s in ADMIN_ONLY_SCOPES]
        if refused:
            raise ApiError(422, "validation_error", "Some scopes are for admins only.",
                           fields={"scopes": [f"for admins only: {', '.join(refused)}"]})
    return sorted(set(scopes))


def render(row) -> dict:
    """The HTTP API's shape of a user (never the password hash)."""
    return user_out(row, user_scopes(row["type"], row["scopes"]))


async def keep_one_admin(conn: asyncpg.Connection) -> None:
    """409 when demoting or deleting an admin would leave none. Serialises concurrent
    demotions, so two admins cannot both remove the other."""
    await conn.execute("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
    if await repo.count_admins(conn) <= 1:
        raise ApiError(409, "conflict", "This is the last admin; make another admin first.")


async def insert_user(conn: asyncpg.Connection, hasher: PasswordHasher, *, username: str,
                      password: str, type_: str = "user",
                      scopes: list[str] | None = None) -> asyncpg.Record:
    """The user's row alone, without its audit event: `register` adds that. Test fixtures
    use it to arrange users without leaving events behind.

    The scopes are checked before the password is hashed, so a refused request costs no
    argon2 work; 409 when the name is taken (without regard to case)."""
    scopes_ = stored_scopes(type_, scopes)
    password_hash = await hasher.hash(password)
    try:
        return await repo.insert(conn, username=username, password_hash=password_hash,
                                 type_=type_, scopes=scopes_)
    except asyncpg.UniqueViolationError:
        raise ApiError(409, "conflict", f"The username '{username}' is taken.") from None


async def register(conn: asyncpg.Connection, hasher: PasswordHasher, actor: Principal, *,
                   source: str | None, username: str, password: str, type_: str = "user",
                   scopes: list[str] | None = None,
                   details: Mapping[str, object] | None = None) -> dict:
    """Create a user and audit it; `details` adds to the event's (the bootstrap says so)."""
    row = await insert_user(conn, hasher, username=username, password=password, type_=type_,
                            scopes=scopes)
    await audit.user_event(conn, audit_repo.USER_CREATED, actor, row,
                           {"type": row["type"], "scopes": row["scopes"], **(details or {})},
                           source=source)
    return render(row)


async def listing(conn: asyncpg.Connection, *, limit: int, offset: int,
                  search: str | None = None) -> dict:
    """One page of users, by name, those whose name contains `search` (any case) when
    given; who may read it is the caller's scope check."""
    pattern = None if search is None else f"%{like_escape(search)}%"
    rows, total = await repo.page(conn, limit, offset, pattern)
    return {"items": [render(r) for r in rows], "total": total, "limit": limit,
            "offset": offset}


async def update(conn: asyncpg.Connection, actor: Principal, username: str, *,
                 source: str | None, password_hash: str | None = None,
                 type_: str | None = None, scopes: list[str] | None = None) -> dict:
    """An admin's change of a user's password, type or scopes (None: not changed).

    The new password comes hashed, so that its argon2 work happens before the caller
    opens the transaction. A demotion drops the admin-only scopes, and the last admin
    stays one."""
    row = await repo.by_name(conn, username)
    if row is None:
        raise not_found("user")
    new_type = type_ if type_ is not None else row["type"]
    if scopes is not None:
        stored = stored_scopes(new_type, scopes)
    elif new_type != "admin":
        stored = [s for s in row["scopes"] if s not in ADMIN_ONLY_SCOPES]
    else:
        stored = None
    if row["type"] == "admin" and new_type != "admin":
        await keep_one_admin(conn)
    row = await repo.update(conn, row["id"], password_hash=password_hash, type_=type_,
                            scopes=stored)
    # The event names what was asked for, as given (never the password itself).
    changes: dict[str, object] = {"password": "changed"} if password_hash else {}
    if type_ is not None:
        changes["type"] = type_
    if scopes is not None:
        changes["scopes"] = scopes
    await audit.user_event(conn, audit_repo.USER_CHANGED, actor, row, changes, source=source)
    return render(row)


# The grant and reason of the `login.failed` event a wrong current password writes: the
# password is the password grant's secret, and the reason tells it from a wrong /login.
PASSWORD_GRANT = "password"  # noqa: S105 - a grant type, not a secret
WRONG_CURRENT_PASSWORD = "wrong_current_password"  # noqa: S105 - a reason, not a secret


def require_password_session(actor: Principal) -> None:
    """403 `insufficient_scope` unless the actor is a person's session: a JWT from the
    password grant. An API key or a token's JWT is a device's credential, often stored
    on the device and often with narrow scopes; none of them may turn itself into the
    account's password."""
    if actor.kind != "jwt" or actor.token_id is not None:
        raise insufficient_scope(frozenset(), (
            "Changing a password needs a session from the password grant (POST /login "
            "with grant_type=password); an API key or a token's JWT may not do it."))


async def verify_own_password(conn: asyncpg.Connection, hasher: PasswordHasher,
                              guard: AbuseGuard, actor: Principal, current_password: str, *,
                              source: str) -> None:
    """403 unless `current_password` is the actor's; 404 when the actor's user is gone.

    `source` is the address as throttling counts it (`abuse.client.source_text`). The
    actor must be a password session (`require_password_session`); then 429 while /login
    would refuse this username from this address, before the password is checked; a
    wrong one is audited and counted like a failed login (429 or 503 from the throttle
    pass on). Argon2 work: call it outside any transaction."""
    require_password_session(actor)
    await guard.check_password_login(conn, source, actor.username)
    row = await repo.by_id(conn, actor.user_id)
    if row is None:
        raise not_found("user")
    if not await hasher.verify(row["password_hash"], current_password):
        user_id, username = await audit.login_failed(
            conn, PASSWORD_GRANT, source=source, reason=WRONG_CURRENT_PASSWORD,
            user_id=row["id"], username=row["username"], client_id=None)
        await guard.login_failed(source, Subject.user(row["username"]),
                                 target_user_id=user_id, target_username=username)
        raise ApiError(403, "forbidden", "The current password is wrong.")


async def set_own_password(conn: asyncpg.Connection, actor: Principal, password_hash: str, *,
                           source: str | None) -> dict:
    """Store the actor's new password (hashed beforehand, after `verify_own_password`)."""
    require_password_session(actor)
    row = await repo.update(conn, actor.user_id, password_hash=password_hash, type_=None,
                            scopes=None)
    if row is None:  # deleted since the current password was verified
        raise not_found("user")
    await audit.user_event(conn, audit_repo.USER_CHANGED, actor, row, {"password": "changed"},
                           source=source)
    return render(row)


async def delete(conn: asyncpg.Connection, actor: Principal, username: str, *,
                 source: str | None) -> uuid.UUID:
    """Delete a user (their tokens are invalidated and kept without an owner); the last
    admin stays. Returns the deleted user's ID."""
    row = await repo.by_name(conn, username)
    if row is None:
        raise not_found("user")
    if row["type"] == "admin":
        await keep_one_admin(conn)
    await repo.delete(conn, row["id"])
    await audit.user_event(conn, audit_repo.USER_DELETED, actor, row, {"type": row["type"]},
                           source=source)
    return row["id"]
