"""Routes about the service itself: health, readiness, scopes, limits, OpenAPI (public),
and its metrics (admins only)."""

from __future__ import annotations

import asyncio

import marshmallow as ma
from aiohttp import web

from service import keys, openapi
from service.audit.repo import KINDS as AUDIT_KINDS
from service.auth.principal import NOTICE_HEADERS
from service.auth.scopes import ADMIN_ONLY_SCOPES, SCOPES, public, requirement_of, requires
from service.errors import DATABASE_UNAVAILABLE, OUTAGE
from service.metrics import CONTENT_TYPE, render_metrics
from service.openapi import doc

routes = web.RouteTableDef()
VERSION = "0.1.0"


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True)


class ScopeSchema(ma.Schema):
    name = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    admin_only = ma.fields.Boolean(required=True,
                                   metadata={"description": "only an admin may hold it"})


class ScopeListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ScopeSchema), required=True)


class ConfigSchema(ma.Schema):
    token_default_ttl_days = ma.fields.Integer(required=True)
    token_max_ttl_days = ma.fields.Integer(required=True, allow_none=True)
    never_expires_allowed = ma.fields.Boolean(required=True)
    jwt_ttl_seconds = ma.fields.Integer(required=True)
    token_expiry_warning_days = ma.fields.Integer(
        required=True, metadata={"description": "clients warn of tokens expiring within it"})
    scopes = ma.fields.List(ma.fields.Nested(ScopeSchema), required=True)
    audit_kinds = ma.fields.List(ma.fields.String(), required=True,
                                 metadata={"description": "what GET /audit's `kind` takes"})


def _scope_items() -> list[dict]:
    return [{"name": name, "description": text, "admin_only": name in ADMIN_ONLY_SCOPES}
            for name, text in SCOPES.items()]


@routes.get("/healthz")
@public
@doc("Liveness: the process answers", tag="meta", responses={200: HealthSchema})
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
@public
@doc("Readiness: the database answers (503 when it does not)", tag="meta",
     responses={200: HealthSchema, 503: HealthSchema})
async def readyz(request: web.Request) -> web.Response:
    pool = request.app[keys.POOL]
    try:
        async with asyncio.timeout(2):
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
    except Exception as exc:  # any failure means "not ready"; the reason is not the caller's
        if isinstance(exc, DATABASE_UNAVAILABLE):
            OUTAGE.refuse(exc)  # a probe may be the first to see an outage
        return web.json_response({"status": "unavailable"}, status=503,
                                 headers={"Retry-After": "1"})
    return web.json_response({"status": "ok"})


@routes.get("/scopes")
@public
@doc("Every scope with its description", tag="meta", responses={200: ScopeListSchema})
async def scopes(request: web.Request) -> web.Response:
    return web.json_response({"items": _scope_items()})


@routes.get("/config")
@public
@doc("The server's token policy, for clients such as the web console", tag="meta",
     responses={200: ConfigSchema})
async def config(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    default = settings.token_default_ttl_days
    if settings.token_max_ttl_days is not None:
        default = min(default, settings.token_max_ttl_days)
    return web.json_response({
        "token_default_ttl_days": default,
        "token_max_ttl_days": settings.token_max_ttl_days,
        "never_expires_allowed": settings.token_max_ttl_days is None,
        "jwt_ttl_seconds": settings.jwt_ttl_seconds,
        "token_expiry_warning_days": settings.token_expiry_warning_days,
        "scopes": _scope_items(),
        "audit_kinds": list(AUDIT_KINDS),
    })


@routes.get("/openapi.json")
@public
@doc("This document", tag="meta", responses={200: {"type": "object"}})
async def openapi_json(request: web.Request) -> web.Response:
    def security_of(handler) -> frozenset[str] | None:
        requirement = requirement_of(handler)
        return None if requirement is None or requirement.public else requirement.scopes

    document = openapi.build(request.app, title="mrsm-tokens", version=VERSION,
                             scopes=SCOPES, security_of=security_of,
                             credential_headers=NOTICE_HEADERS)
    return web.json_response(document)


@routes.get("/metrics")
@requires("read:users")  # an admin-only scope: an admin's bearer or API key, nobody else
@doc("Prometheus metrics (admins only: needs read:users)", tag="meta",
     responses={200: ("text/plain", {"type": "string"})})
async def metrics(request: web.Request) -> web.Response:
    cache = request.app[keys.AUTHN].cache
    body = render_metrics(request.app[keys.POOL], cache.hits, cache.misses, cache.enabled)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE,
                                            "Cache-Control": "no-store"})
