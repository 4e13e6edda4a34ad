"""/tokens: register, list, read, edit, invalidate and delete tokens."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from aiohttp import web

from service import keys
from service.abuse.client import UNKNOWN_SOURCE
from service.auth.scopes import public, requires
from service.caller import principal_of, source_of
from service.openapi import ErrorSchema, doc
from service.tokens import leaks, ops
from service.tokens.schemas import (
    LeakReceivedSchema,
    LeakReportSchema,
    TokenCreatedSchema,
    TokenCreateSchema,
    TokenListSchema,
    TokenQuerySchema,
    TokenRotateSchema,
    TokenSchema,
    TokenUpdateSchema,
    token_out,
)
from service.validation import load_body, load_query

routes = web.RouteTableDef()
_ID = {"id": {"type": "string", "format": "uuid"}}


@routes.post("/tokens")
@requires("write:tokens")
@doc("Register a token; the secret and API key are in this response only", tag="tokens",
     body=TokenCreateSchema, responses={201: TokenCreatedSchema})
async def post_token(request: web.Request) -> web.Response:
    body = await load_body(request, TokenCreateSchema())
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        out = await ops.register(
            conn, request.app[keys.SETTINGS], principal_of(request), source=source_of(request),
            label=body.get("label"), expiration_given="expiration" in body,
            expiration=body.get("expiration"), scopes=body.get("scopes"),
            username=body.get("user"),
            rate_limit=body.get("rate_limit"), allowed_cidrs=body.get("allowed_cidrs"),
            pipes=body.get("pipes", ops.INHERIT),
        )
    return web.json_response(out, status=201, headers={"Cache-Control": "no-store"})


@routes.get("/tokens")
@requires("read:tokens")
@doc("List tokens: your own, or every token for an admin; filtered, sorted and paged",
     tag="tokens",
     query=TokenQuerySchema, responses={200: TokenListSchema})
async def list_tokens(request: web.Request) -> web.Response:
    query = load_query(request, TokenQuerySchema())
    async with request.app[keys.POOL].acquire() as conn:
        out = await ops.listing(conn, principal_of(request), username=query.get("user"),
                                limit=query["limit"], offset=query["offset"],
                                filters=ops.filters_of(query, request.app[keys.SETTINGS]),
                                sort=query["sort"], order=query["order"])
    return web.json_response(out)


@routes.get("/tokens/{id}")
@requires("read:tokens")
@doc("Read a token", tag="tokens", responses={200: TokenSchema}, path_params=_ID)
async def get_token(request: web.Request) -> web.Response:
    async with request.app[keys.POOL].acquire() as conn:
        row = await ops.visible_token(conn, principal_of(request), request.match_info["id"])
    return web.json_response(token_out(row, datetime.now(UTC)))


@routes.patch("/tokens/{id}")
@requires("write:tokens")
@doc("Edit a token's label, expiration, scopes, limits or pipes", tag="tokens",
     body=TokenUpdateSchema, responses={200: TokenSchema}, path_params=_ID)
async def patch_token(request: web.Request) -> web.Response:
    body = await load_body(request, TokenUpdateSchema())
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        out = await ops.edit(conn, request.app[keys.SETTINGS], principal_of(request),
                             request.match_info["id"], body, source=source_of(request))
    request.app[keys.AUTHN].forget_token(uuid.UUID(out["id"]))
    return web.json_response(out)


@routes.post("/tokens/{id}/invalidate")
@requires("write:tokens")
@doc("Invalidate a token for good; it stays listed", tag="tokens",
     responses={200: TokenSchema}, path_params=_ID)
async def invalidate_token(request: web.Request) -> web.Response:
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        out = await ops.invalidate(conn, principal_of(request), request.match_info["id"],
                                   source=source_of(request))
    request.app[keys.AUTHN].forget_token(uuid.UUID(out["id"]))
    return web.json_response(out)


@routes.delete("/tokens/{id}")
@requires("write:tokens")
@doc("Delete a token permanently", tag="tokens", responses={204: None}, path_params=_ID)
async def delete_token(request: web.Request) -> web.Response:
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        token_id = await ops.delete(conn, principal_of(request), request.match_info["id"],
                                    source=source_of(request))
    request.app[keys.AUTHN].forget_token(token_id)
    return web.Response(status=204)


@routes.post("/tokens/{id}/rotate")
@requires("write:tokens")
@doc("Give a token a new secret; the previous one works for the overlap. The new secret "
     "and API key are in this response only", tag="tokens", body=TokenRotateSchema,
     body_required=False, responses={200: TokenCreatedSchema}, path_params=_ID)
async def rotate_token(request: web.Request) -> web.Response:
    body = (await load_body(request, TokenRotateSchema()) if request.body_exists
            else TokenRotateSchema().load({}))
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        out = await ops.rotate(conn, principal_of(request), request.match_info["id"],
                               overlap_seconds=body["overlap_seconds"],
                               source=source_of(request))
    request.app[keys.AUTHN].forget_token(uuid.UUID(out["id"]))
    return web.json_response(out, headers={"Cache-Control": "no-store"})


_RETRY_AFTER = {"Retry-After": {"description": "seconds until this address may report again",
                                "schema": {"type": "string"}, "required": True}}


@routes.post("/tokens/leaked")
@public
@doc("Report API keys found in public: each valid one is invalidated at once. The answer "
     "is the same whatever the keys are", tag="tokens", body=LeakReportSchema,
     responses={202: LeakReceivedSchema, 429: ErrorSchema}, headers={429: _RETRY_AFTER})
async def report_leaked(request: web.Request) -> web.Response:
    app = request.app
    source = source_of(request)
    await app[keys.ABUSE].check_report(leaks.RULE, source or UNKNOWN_SOURCE,
                                       app[keys.SETTINGS].leak_reports_per_hour)
    body = await load_body(request, LeakReportSchema())
    async with app[keys.POOL].acquire() as conn, conn.transaction():
        leaked = await leaks.report(conn, body["keys"], url=body.get("url"), source=source)
    for token_id in leaked:
        app[keys.AUTHN].forget_token(token_id)
    return web.json_response({"received": len(body["keys"])}, status=202)
