"""Verifying credentials: the cache first, the database when it must.

The front asks `cached(credential)` first: a plain function, no coroutine, keyed by
SHA-256 of the Authorization header as sent, so a hit costs one SHA-256, one dict
lookup and one constant-time compare. A miss goes to `verify(credential)`, which
checks the credential against the database (service.auth.credentials) and, if it is
good, caches the principal until the credential's own expiry, under the same digest.
"""

from __future__ import annotations

import math
import time
import uuid
from hashlib import sha256

import asyncpg

from service.auth import apikeys, credentials, denylist
from service.auth.cache import CredentialCache
from service.auth.jwt import JwtCodec
from service.auth.lastused import LastUsedTracker
from service.auth.principal import Principal
from service.auth.schemes import API_KEY, JWT, Credential

_HEADER = b"h\0"  # what a cache key is the digest of: an Authorization header...
_CLIENT = b"c\0"  # ...or a client ID and secret posted to /login


def _digest(kind: bytes, value: str) -> bytes:
    # Header values may carry undecodable bytes as surrogates; hash them, do not crash.
    return sha256(kind + value.encode("utf-8", "surrogateescape")).digest()


def _until(*limits: float | None) -> float:
    return min((x for x in limits if x is not None), default=math.inf)


class Authenticator:
    def __init__(self, pool: asyncpg.Pool, codec: JwtCodec, cache: CredentialCache,
                 tracker: LastUsedTracker, acquire_timeout: float) -> None:
        self.pool = pool
        self.codec = codec
        self.cache = cache
        self.tracker = tracker
        self._timeout = acquire_timeout

    def cached(self, credential: Credential, source: str | None = None) -> Principal | None:
        """The principal of a credential this process verified before, or None (not
        verified yet, expired, revoked, or the cache is off): the hot path. `source`: the
        client's address, for the token's recent sources (None: not tracked)."""
        now = time.time()
        principal = self.cache.get(_digest(_HEADER, credential.header), now)
        if principal is not None and principal.token_id is not None:
            self.tracker.touch(principal, now, source)  # as _used does, without its call
        return principal

    async def verify(self, credential: Credential, source: str | None = None) -> Principal | None:
        """The principal of a credential, from the database; None when its scheme is not
        one we accept or it is not good. A good one is cached under its header's digest."""
        now = time.time()
        generation = self.cache.generation
        exp = None
        if credential.kind == API_KEY:
            parts = credential.key_parts()
            if parts is None:
                return None  # mistyped or forged (checksum): refused without a connection
            async with self.pool.acquire(timeout=self._timeout) as conn:
                principal = await credentials.check_client_secret(conn, *parts, API_KEY)
        elif credential.kind == JWT:
            claims = self.codec.decode(credential.value)
            if claims is None:
                return None
            exp = claims.expires_at
            async with self.pool.acquire(timeout=self._timeout) as conn:
                if await denylist.is_revoked(conn, claims.jti):
                    return None
                principal = await credentials.principal_from_claims(conn, claims)
        else:
            return None
        if principal is None:
            return None
        self._remember(_digest(_HEADER, credential.header), principal, exp, generation, now)
        self._used(principal, now, source)
        return principal

    async def verify_client(self, client_id: uuid.UUID, secret: str,
                            source: str | None = None) -> Principal | None:
        """A token's principal from its client ID and secret (the client-credentials grant)."""
        digest = _digest(_CLIENT, f"{client_id}:{secret}")
        now = time.time()
        principal = self.cache.get(digest, now)
        if principal is None:
            if not apikeys.secret_well_formed(secret):
                return None  # mistyped or forged (checksum): refused without a connection
            generation = self.cache.generation
            async with self.pool.acquire(timeout=self._timeout) as conn:
                principal = await credentials.check_client_secret(
                    conn, client_id, secret, "client_credentials")
            if principal is None:
                return None
            self._remember(digest, principal, None, generation, now)
        self._used(principal, now, source)
        return principal

    def _remember(self, digest: bytes, principal: Principal, exp: float | None,
                  generation: int, now: float) -> None:
        token_exp = principal.expires_at.timestamp() if principal.expires_at else None
        # A previous secret is remembered only until its overlap ends.
        rotated = principal.rotated_until
        old_exp = rotated.timestamp() if rotated is not None else None
        self.cache.put(digest, principal, _until(exp, token_exp, old_exp), generation, now)

    def _used(self, principal: Principal, now: float, source: str | None) -> None:
        if principal.token_id is not None:
            self.tracker.touch(principal, now, source)

    # Local drops right after a change commits here; other processes hear NOTIFY.
    def forget_token(self, token_id: uuid.UUID) -> None:
        self.cache.drop_token(token_id)

    def forget_user(self, user_id: uuid.UUID) -> None:
        self.cache.drop_user(user_id)
