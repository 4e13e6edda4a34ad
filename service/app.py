"""The application factory: `create_app(settings)`; no I/O until the app starts."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from service import keys, meta, middleware
from service.abuse.hooks import abuse_ctx
from service.audit.routes import routes as audit_routes
from service.auth.authenticator import Authenticator
from service.auth.cache import CredentialCache
from service.auth.jwt import JwtCodec
from service.auth.lastused import LastUsedTracker
from service.auth.login import routes as login_routes
from service.auth.passwords import PasswordHasher
from service.auth.revocation import RevocationListener
from service.config import Settings
from service.console.routes import routes as console_routes
from service.db import jwt_secret, pool_ctx
from service.metrics import routes as metrics_routes
from service.pipes.routes import routes as pipe_routes
from service.tokens.routes import routes as token_routes
from service.users.routes import routes as user_routes

MAX_BODY = 1024 * 1024  # 1 MiB


async def auth_ctx(app: web.Application) -> AsyncIterator[None]:
    """The password hasher's thread pool and the JWT codec (its key may live in the database)."""
    settings = app[keys.SETTINGS]
    hasher = PasswordHasher(settings)
    app[keys.HASHER] = hasher
    async with app[keys.POOL].acquire() as conn:
        secret = await jwt_secret(conn, settings)
    app[keys.JWT] = JwtCodec(secret, settings.jwt_issuer, settings.jwt_ttl_seconds,
                             previous_secret=settings.jwt_previous_secret)
    try:
        yield
    finally:
        hasher.close()


async def authn_ctx(app: web.Application) -> AsyncIterator[None]:
    """The credential cache, the revocation listener and the last-used flusher."""
    settings = app[keys.SETTINGS]
    pool = app[keys.POOL]
    cache = CredentialCache(settings.auth_cache_size, settings.auth_cache_ttl_seconds)
    tracker = LastUsedTracker(pool, settings.last_used_flush_seconds)
    listener = RevocationListener(settings.database_url or "", cache)
    app[keys.AUTHN] = Authenticator(pool, app[keys.JWT], cache, tracker, settings.db_timeout)
    await listener.start()
    tracker.start()
    try:
        yield
    finally:
        await listener.stop()
        await tracker.stop()  # the final flush: last-used times survive a clean shutdown


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[keys.SETTINGS] = settings
    app.cleanup_ctx.append(pool_ctx)
    app.cleanup_ctx.append(auth_ctx)
    app.cleanup_ctx.append(authn_ctx)
    app.cleanup_ctx.append(abuse_ctx)
    for table in (meta.routes, login_routes, user_routes, token_routes, pipe_routes):
        app.router.add_routes(table)
    app.router.add_routes(console_routes)
    app.router.add_routes(metrics_routes)
    app.router.add_routes(audit_routes)
    # Request id, authorization, errors, metrics and the access line before every route,
    # put there at start-up: the last start-up step (service.middleware).
    middleware.install(app, settings)
    return app
