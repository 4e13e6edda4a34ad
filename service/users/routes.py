"""/users: register, list, read, change and delete users."""

from __future__ import annotations

import functools
import json

import asyncpg
from aiohttp import web

from service import keys
from service.audit import recorder as audit
from service.audit import repo as audit_repo
from service.auth.principal import Principal, user_scopes
from service.auth.scopes import (
    ADMIN_ONLY_SCOPES,
    DEFAULT_USER_SCOPES,
    authenticated,
    order,
    requires,
)
from service.caller import principal_of, source_of
from service.errors import ApiError, not_found
from service.openapi import doc
from service.users import repo
from service.users.schemas import (
    MeSchema,
    PageQuerySchema,
    PasswordChangeSchema,
    UserCreateSchema,
    UserListSchema,
    UserSchema,
    UserUpdateSchema,
    user_out,
)
from service.validation import isoformat, load_body, load_query

routes = web.RouteTableDef()
# The Content-Type web.json_response sets, for GET /users/me's ready-made bytes.
_JSON = {"Content-Type": "application/json; charset=utf-8"}


@functools.lru_cache(maxsize=4096)
def me_body(principal: Principal) -> bytes:
    """GET /users/me's body: rendered once per verified principal, which the credential
    cache hands to every request with the same credential."""
    return json.dumps({
        "id": str(principal.user_id),
        "username": principal.username,
        "type": principal.user_type,
        "scopes": order(principal.scopes),
        "created_at": isoformat(principal.user_created_at) if principal.user_created_at else None,
        "token": ({"id": str(principal.token_id), "label": principal.token_label}
                  if principal.token_id else None),
    }).encode()


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
    return user_out(row, user_scopes(row["type"], row["scopes"]))


async def create_user(conn: asyncpg.Connection, hasher, *, username: str, password: str,
                      type_: str = "user", scopes: list[str] | None = None) -> asyncpg.Record:
    """Register a user; 409 when the name is taken (without regard to case)."""
    scopes_ = stored_scopes(type_, scopes)
    password_hash = await hasher.hash(password)
    try:
        return await repo.insert(conn, username=username, password_hash=password_hash,
                                 type_=type_, scopes=scopes_)
    except asyncpg.UniqueViolationError:
        raise ApiError(409, "conflict", f"The username '{username}' is taken.") from None


@routes.post("/users")
@requires("write:users")
@doc("Register a user", tag="users", body=UserCreateSchema, responses={201: UserSchema})
async def post_user(request: web.Request) -> web.Response:
    body = await load_body(request, UserCreateSchema())
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        row = await create_user(conn, request.app[keys.HASHER], username=body["username"],
                                password=body["password"], type_=body["type"],
                                scopes=body["scopes"])
        await audit.user_event(conn, audit_repo.USER_CREATED, principal_of(request), row,
                               {"type": row["type"], "scopes": row["scopes"]},
                               source=source_of(request))
    return web.json_response(render(row), status=201)


@routes.get("/users")
@requires("read:users")
@doc("List users", tag="users", query=PageQuerySchema, responses={200: UserListSchema})
async def list_users(request: web.Request) -> web.Response:
    query = load_query(request, PageQuerySchema())
    async with request.app[keys.POOL].acquire() as conn:
        rows, total = await repo.page(conn, query["limit"], query["offset"])
    return web.json_response({"items": [render(r) for r in rows], "total": total,
                              "limit": query["limit"], "offset": query["offset"]})


@routes.get("/users/me")
@authenticated
@doc("Who am I: the caller's user, effective scopes and token", tag="users",
     responses={200: MeSchema})
async def get_me(request: web.Request) -> web.Response:
    # Answered from the verified principal alone: no database round trip.
    return web.Response(body=me_body(principal_of(request)), headers=_JSON)


@routes.patch("/users/me")
@authenticated
@doc("Change your own password", tag="users", body=PasswordChangeSchema,
     responses={200: UserSchema})
async def patch_me(request: web.Request) -> web.Response:
    body = await load_body(request, PasswordChangeSchema())
    principal = principal_of(request)
    hasher = request.app[keys.HASHER]
    async with request.app[keys.POOL].acquire() as conn:
        row = await repo.by_id(conn, principal.user_id)
        if row is None:
            raise not_found("user")
        if not await hasher.verify(row["password_hash"], body["current_password"]):
            raise ApiError(403, "forbidden", "The current password is wrong.")
        new_hash = await hasher.hash(body["new_password"])
        async with conn.transaction():
            row = await repo.update(conn, principal.user_id, password_hash=new_hash,
                                    type_=None, scopes=None)
            await audit.user_event(conn, audit_repo.USER_CHANGED, principal, row,
                                   {"password": "changed"}, source=source_of(request))
    request.app[keys.AUTHN].forget_user(principal.user_id)
    return web.json_response(render(row))


@routes.patch("/users/{username}")
@requires("write:users")
@doc("Change a user's password, type or scopes", tag="users", body=UserUpdateSchema,
     responses={200: UserSchema})
async def patch_user(request: web.Request) -> web.Response:
    body = await load_body(request, UserUpdateSchema())
    hasher = request.app[keys.HASHER]
    new_hash = await hasher.hash(body["password"]) if "password" in body else None
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        row = await repo.by_name(conn, request.match_info["username"])
        if row is None:
            raise not_found("user")
        type_ = body.get("type", row["type"])
        scopes = body.get("scopes")
        if scopes is not None:
            scopes = stored_scopes(type_, scopes)
        elif type_ != "admin":
            scopes = [s for s in row["scopes"] if s not in ADMIN_ONLY_SCOPES]
        if row["type"] == "admin" and type_ != "admin":
            await keep_one_admin(conn)
        row = await repo.update(conn, row["id"], password_hash=new_hash,
                                type_=body.get("type"), scopes=scopes)
        await audit.user_event(conn, audit_repo.USER_CHANGED, principal_of(request), row, {
            **({"password": "changed"} if new_hash else {}),
            **{k: body[k] for k in ("type", "scopes") if k in body}}, source=source_of(request))
    request.app[keys.AUTHN].forget_user(row["id"])
    return web.json_response(render(row))


@routes.delete("/users/{username}")
@requires("write:users")
@doc("Delete a user; their tokens are invalidated and kept without an owner", tag="users",
     responses={204: None})
async def delete_user(request: web.Request) -> web.Response:
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        row = await repo.by_name(conn, request.match_info["username"])
        if row is None:
            raise not_found("user")
        if row["type"] == "admin":
            await keep_one_admin(conn)
        await repo.delete(conn, row["id"])
        await audit.user_event(conn, audit_repo.USER_DELETED, principal_of(request), row,
                               {"type": row["type"]}, source=source_of(request))
    request.app[keys.AUTHN].forget_user(row["id"])
    return web.Response(status=204)


async def keep_one_admin(conn: asyncpg.Connection) -> None:
    """409 when demoting or deleting an admin would leave none (HTTP and the sql: SDK).
    Serialises concurrent demotions so two admins cannot both remove the other."""
    await conn.execute("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
    if await repo.count_admins(conn) <= 1:
        raise ApiError(409, "conflict", "This is the last admin; make another admin first.")
