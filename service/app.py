"""The application factory, `create_app(settings)`, and its start-up steps.

Nothing is done until the app starts: then each cleanup context below makes one part,
in order, and hands it on through service.keys (the pool, the password hasher and JWT
codec, the authenticator, the audit buffer, the abuse guard, the writer of pipe rows); each
is closed, in reverse order, when the app stops.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from service import keys, meta
from service.abuse.client import canonical_text
from service.abuse.guard import AbuseGuard
from service.audit import recorder
from service.audit.routes import routes as audit_routes
from service.auth.authenticator import Authenticator
from service.auth.cache import CredentialCache
from service.auth.jwt import JwtCodec
from service.auth.keystore import SigningKeys
from service.auth.lastused import LastUsedTracker
from service.auth.passwords import PasswordHasher
from service.auth.revocation import RevocationListener
from service.auth.signing import HS256, KeyRing
from service.config import Settings
from service.console.routes import routes as console_routes
from service.db import connect_direct, create_pool, jwt_secret, mask_dsn, migrate
from service.front import front
from service.groups import GroupWriter
from service.login.routes import routes as login_routes
from service.oauth.routes import routes as oauth_routes
from service.pipes import ingest
from service.pipes.routes import routes as pipe_routes
from service.tokens.routes import routes as token_routes
from service.users.routes import routes as user_routes

MAX_BODY = 1024 * 1024  # 1 MiB
log = logging.getLogger("service.db")


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[keys.SETTINGS] = settings
    app.middlewares.append(front(app, settings))
    app.cleanup_ctx.append(pool_ctx)
    app.cleanup_ctx.append(auth_ctx)
    app.cleanup_ctx.append(authn_ctx)
    app.cleanup_ctx.append(audit_ctx)
    app.cleanup_ctx.append(abuse_ctx)
    app.cleanup_ctx.append(ingest_ctx)
    for table in (meta.routes, login_routes, oauth_routes, user_routes, token_routes, pipe_routes,
                  console_routes, audit_routes):
        app.router.add_routes(table)
    return app


async def pool_ctx(app: web.Application) -> AsyncIterator[None]:
    """The pool, with the schema migrated; closed at the end."""
    settings = app[keys.SETTINGS]
    conn = await connect_direct(settings)
    try:
        await migrate(conn, settings.migrations_dir)
    finally:
        await conn.close()
    pool = await create_pool(settings)
    async with pool.acquire() as conn:
        await conn.execute("SELECT 1")
    log.info("connected to %s", mask_dsn(settings.database_url or ""))
    app[keys.POOL] = pool
    try:
        yield
    finally:
        await pool.close()


async def auth_ctx(app: web.Application) -> AsyncIterator[None]:
    """The password hasher's thread pool and the JWT codec: its keys are the key pairs in the
    database (made at first start, followed until the app stops), or the HS256 secret."""
    settings = app[keys.SETTINGS]
    hasher = PasswordHasher(settings)
    app[keys.HASHER] = hasher
    signing_keys = None
    if settings.jwt_algorithm == HS256:
        async with app[keys.POOL].acquire() as conn:
            secret = await jwt_secret(conn, settings)
        ring = KeyRing.hmac(secret, settings.jwt_previous_secret)
    else:
        signing_keys = SigningKeys(app[keys.POOL], settings)
        await signing_keys.start()
        ring = signing_keys.ring
    app[keys.SIGNING] = signing_keys
    app[keys.JWT] = JwtCodec(ring, settings.issuer, settings.jwt_ttl_seconds, settings.audience)
    try:
        yield
    finally:
        if signing_keys is not None:
            await signing_keys.stop()
        hasher.close()


async def authn_ctx(app: web.Application) -> AsyncIterator[None]:
    """The credential cache, the revocation listener and the last-used flusher."""
    settings = app[keys.SETTINGS]
    pool = app[keys.POOL]
    cache = CredentialCache(settings.auth_cache_size, settings.auth_cache_ttl_seconds)
    tracker = LastUsedTracker(pool, settings.last_used_flush_seconds,
                              canonical=canonical_text)
    signing_keys = app[keys.SIGNING]
    notices = {}
    if signing_keys is not None:
        notices["keys"] = signing_keys.notice
        signing_keys.on_retired = cache.clear
    listener = RevocationListener(settings.listen_url, cache, pool, notices=notices)
    app[keys.AUTHN] = Authenticator(pool, app[keys.JWT], cache, tracker, settings.db_timeout)
    await listener.start()
    tracker.start()
    try:
        yield
    finally:
        await listener.stop()
        await tracker.stop()  # the final flush: last-used times survive a clean shutdown


async def audit_ctx(app: web.Application) -> AsyncIterator[None]:
    """The buffer of login events, flushed every second and at shutdown."""
    buffer = recorder.login_events(app[keys.POOL])
    app[keys.AUDIT] = buffer
    buffer.start()
    try:
        yield
    finally:
        await buffer.close()


async def abuse_ctx(app: web.Application) -> AsyncIterator[None]:
    """Throttling and the token limits; the blocks it starts go to the audit trail."""
    guard = AbuseGuard(app[keys.SETTINGS].abuse, app[keys.POOL],
                       on_blocks=recorder.blocks_started)
    app[keys.ABUSE] = guard
    try:
        yield
    finally:
        await guard.close()


async def ingest_ctx(app: web.Application) -> AsyncIterator[None]:
    """The writer of pipe rows; at the end it writes what is queued before the pool closes."""
    settings = app[keys.SETTINGS]
    writer = GroupWriter(app[keys.POOL], ingest.write_together, name="pipe rows",
                         max_rows=settings.ingest_max_rows,
                         max_delay=settings.ingest_max_delay_ms / 1000)
    app[keys.INGEST] = writer
    writer.start()
    try:
        yield
    finally:
        await writer.close()
