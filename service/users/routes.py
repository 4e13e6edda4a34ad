"""/users: register, list, read, change and delete users."""

from __future__ import annotations

import functools
import json
import uuid

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from service import keys
from service.abuse.client import client_address, source_text
from service.auth.principal import Principal
from service.auth.scopes import authenticated, order, requires
from service.caller import principal_of, source_of
from service.openapi import doc
from service.users import ops
from service.users.schemas import (
    MeSchema,
    PasswordChangeSchema,
    UserCreateSchema,
    UserListSchema,
    UserQuerySchema,
    UserSchema,
    UserUpdateSchema,
)
from service.validation import isoformat, load_body, load_query

routes = web.RouteTableDef()
# The Content-Type web.json_response sets, for GET /users/me's ready-made bytes; as a
# multidict, the response takes it without converting a dict's keys on every request.
_JSON = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json; charset=utf-8"}))


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
        "pipes": principal.pipes.texts() if principal.pipes is not None else None,
    }).encode()


@routes.post("/users")
@requires("write:users")
@doc("Register a user", tag="users", body=UserCreateSchema, responses={201: UserSchema})
async def post_user(request: web.Request) -> web.Response:
    body = await load_body(request, UserCreateSchema())
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        out = await ops.register(conn, request.app[keys.HASHER], principal_of(request),
                                 source=source_of(request), username=body["username"],
                                 password=body["password"], type_=body["type"],
                                 scopes=body["scopes"])
    return web.json_response(out, status=201)


@routes.get("/users")
@requires("read:users")
@doc("List users by name; `q` finds those whose name contains it", tag="users",
     query=UserQuerySchema, responses={200: UserListSchema})
async def list_users(request: web.Request) -> web.Response:
    query = load_query(request, UserQuerySchema())
    async with request.app[keys.POOL].acquire() as conn:
        out = await ops.listing(conn, limit=query["limit"], offset=query["offset"],
                                search=query.get("q"))
    return web.json_response(out)


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
    principal = principal_of(request)
    # Before the body: a device's credential learns nothing from this route.
    ops.require_password_session(principal)
    body = await load_body(request, PasswordChangeSchema())
    app = request.app
    hasher = app[keys.HASHER]
    # The address as /login's throttle counts it, so both share one budget.
    throttled_as = source_text(client_address(request, app[keys.SETTINGS].abuse))
    async with app[keys.POOL].acquire() as conn:
        # Both argon2 steps before the transaction, which then holds its row lock briefly.
        await ops.verify_own_password(conn, hasher, app[keys.ABUSE], principal,
                                      body["current_password"], source=throttled_as)
        new_hash = await hasher.hash(body["new_password"])
        async with conn.transaction():
            out = await ops.set_own_password(conn, principal, new_hash,
                                             source=source_of(request))
    request.app[keys.AUTHN].forget_user(principal.user_id)
    return web.json_response(out)


@routes.patch("/users/{username}")
@requires("write:users")
@doc("Change a user's password, type or scopes", tag="users", body=UserUpdateSchema,
     responses={200: UserSchema})
async def patch_user(request: web.Request) -> web.Response:
    body = await load_body(request, UserUpdateSchema())
    hasher = request.app[keys.HASHER]
    # Hashed before the transaction, so argon2 never runs while the users lock is held.
    new_hash = await hasher.hash(body["password"]) if "password" in body else None
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        out = await ops.update(conn, principal_of(request), request.match_info["username"],
                               source=source_of(request), password_hash=new_hash,
                               type_=body.get("type"), scopes=body.get("scopes"))
    request.app[keys.AUTHN].forget_user(uuid.UUID(out["id"]))
    return web.json_response(out)


@routes.delete("/users/{username}")
@requires("write:users")
@doc("Delete a user; their tokens are invalidated and kept without an owner", tag="users",
     responses={204: None})
async def delete_user(request: web.Request) -> web.Response:
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        user_id = await ops.delete(conn, principal_of(request), request.match_info["username"],
                                   source=source_of(request))
    request.app[keys.AUTHN].forget_user(user_id)
    return web.Response(status=204)
