"""The application factory: `create_app(settings)`; no I/O until the app starts."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from service import keys, meta
from service.auth.jwt import JwtCodec
from service.auth.login import routes as login_routes
from service.auth.middleware import auth_middleware
from service.auth.passwords import PasswordHasher
from service.config import Settings
from service.db import jwt_secret, pool_ctx
from service.errors import error_middleware
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


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware, auth_middleware],
        client_max_size=MAX_BODY,
    )
    app[keys.SETTINGS] = settings
    app.cleanup_ctx.append(pool_ctx)
    app.cleanup_ctx.append(auth_ctx)
    for table in (meta.routes, login_routes, user_routes, token_routes, pipe_routes):
        app.router.add_routes(table)
    return app
