"""The rules of introspection (RFC 7662) and revocation (RFC 7009), and the two well-known
documents. Who the caller is was settled before (service.oauth.routes, or the SDK's
operator); here it only decides whose credentials the caller may see or end.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import jwt

from service.audit import recorder
from service.auth import credentials, denylist, keystore
from service.auth.apikeys import API_KEY_PREFIX
from service.auth.jwt import JwtCodec
from service.auth.principal import Principal
from service.auth.schemes import API_KEY, JWT, Credential
from service.auth.scopes import SCOPES, order
from service.auth.signing import HS256, KeyRing
from service.config import Settings
from service.db import jwt_secret
from service.tokens import ops as token_ops

INACTIVE = {"active": False}
BEARER = "bearer"  # token_type of a JWT, as /login names it
# What the metadata names: the endpoints' paths under the issuer.
TOKEN_PATH, JWKS_PATH = "/login", "/.well-known/jwks.json"
INTROSPECT_PATH, REVOKE_PATH = "/introspect", "/revoke"
CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

Verify = Callable[[Credential], Awaitable[Principal | None]]


def metadata(settings: Settings) -> dict:
    """RFC 8414 §2: what an OAuth2 client needs, from the issuer URL alone."""
    issuer = settings.issuer
    return {
        "issuer": issuer,
        "token_endpoint": issuer + TOKEN_PATH,
        "jwks_uri": issuer + JWKS_PATH,
        "introspection_endpoint": issuer + INTROSPECT_PATH,
        "revocation_endpoint": issuer + REVOKE_PATH,
        "grant_types_supported": ["password", "client_credentials"],
        "response_types_supported": [],
        "scopes_supported": list(SCOPES),
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
    }


def jwks(ring: KeyRing) -> dict:
    """RFC 7517: the keys published now (none under HS256: a secret is never published)."""
    return {"keys": [key.published_jwk() for key in ring.published(time.time())]}


def credential_of(token: str) -> Credential:
    """The token as the front would see it in Authorization: an API key as it is, anything
    else as a bearer (so a JWT finds the cache entry its own requests made)."""
    token = token.strip()
    if token[:len(API_KEY_PREFIX)].lower() == API_KEY_PREFIX:
        return Credential(token)
    return Credential(f"Bearer {token}")


def _visible(caller: Principal, user_id: uuid.UUID) -> bool:
    return caller.is_admin or caller.user_id == user_id


async def introspect(verify: Verify, caller: Principal, token: str, issuer: str) -> dict:
    """RFC 7662 §2.2 for `token` as `caller` sees it: `{"active": false}` and nothing else
    unless it is an active credential of the caller's own user (any user's, for an admin)."""
    credential = credential_of(token)
    if credential.kind not in (API_KEY, JWT):
        return INACTIVE
    principal = await verify(credential)
    if principal is None or not _visible(caller, principal.user_id):
        return INACTIVE
    body: dict = {"active": True, "scope": " ".join(order(principal.scopes)),
                  "sub": str(principal.user_id), "username": principal.username, "iss": issuer}
    if principal.token_id is not None:
        body["client_id"] = str(principal.token_id)
    if credential.kind == JWT:
        # `verify` accepted this very string (its cache is keyed by it): its signature and
        # claims were checked then, so reading them again needs no second signature check.
        claims = jwt.decode(credential.value, options={"verify_signature": False})
        body.update({"token_type": BEARER, "exp": claims["exp"], "iat": claims["iat"],
                     "aud": claims["aud"], "jti": claims["jti"]})
    else:
        body["token_type"] = API_KEY
        if principal.expires_at is not None:
            body["exp"] = int(principal.expires_at.timestamp())
    return body


async def revoke(pool: asyncpg.Pool, codec: JwtCodec, caller: Principal, token: str, *,
                 source: str | None) -> uuid.UUID | None:
    """RFC 7009 §2.1: end `token` if the caller may. A JWT of the caller's user (any, for an
    admin) is denied until its `exp`; an API key, the caller's own (any, for an admin), is
    invalidated. Returns the user whose cached credentials are now stale, or None when
    nothing changed (unknown, expired, already ended or not the caller's: all answered
    alike)."""
    credential = credential_of(token)
    if credential.kind == JWT:
        claims = codec.decode(credential.value)
        if claims is None or not _visible(caller, claims.user_id):
            return None
        async with pool.acquire() as conn, conn.transaction():
            if await denylist.revoke(conn, claims.jti, claims.expires_at, claims.user_id):
                await recorder.jwt_revoked(
                    conn, caller, user_id=claims.user_id, token_id=claims.token_id,
                    jti=claims.jti, expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
                    source=source)
        return claims.user_id
    parts = credential.key_parts()
    if parts is None or not (caller.is_admin or caller.token_id == parts[0]):
        return None
    async with pool.acquire() as conn, conn.transaction():
        owner = await credentials.check_client_secret(conn, *parts, API_KEY)
        if owner is None:
            return None
        await token_ops.invalidate(conn, caller, owner.token_id, source=source)
    return owner.user_id


async def codec_for(conn: asyncpg.Connection, settings: Settings) -> JwtCodec:
    """A codec with the keys stored now, for a process that does not serve (the SDK)."""
    if settings.jwt_algorithm == HS256:
        ring = KeyRing.hmac(await jwt_secret(conn, settings), settings.jwt_previous_secret)
    else:
        ring = KeyRing(await keystore.load(conn, settings))
    return JwtCodec(ring, settings.issuer, settings.jwt_ttl_seconds, settings.audience)
