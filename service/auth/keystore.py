"""Signing key pairs in the database (signing_keys), shared by every process and host.

The first process to start makes a key; `rotate` (the CLI's `mrsm rotate signing-key`, or
the automatic rotation every JWT_KEY_ROTATION_DAYS) adds the next one, published at once
and signing only `prepublish_seconds` later, and sets when the keys it supersedes retire:
once the last JWT they can have signed has expired. Both steps hold an advisory lock, so
processes starting or rotating at once agree. A rotation notifies 'mrsm_auth' with
'keys:<kid>'; `SigningKeys.notice` (called by the revocation listener) reloads the ring, and
every few seconds it reloads anyway. The times themselves need no notice: each process
compares them with its clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable

import asyncpg

from service.auth import denylist, signing
from service.auth.revocation import CHANNEL
from service.auth.signing import KeyRing, SigningKey
from service.config import Settings

log = logging.getLogger("service.auth.keystore")

KEYS_LOCK_ID = 0x6D72736B  # serialises making and rotating keys across processes
CLOCK_SKEW = 2.0  # seconds a host's clock may lag the database's, added to every retirement
MIN_PREPUBLISH = 5.0  # a next key is published at least this long before it signs
MAINTAIN_SECONDS = 60.0  # how often a process checks the automatic rotation and cleans up

# JSON as text both ways: the same on a pooled connection (JSON codecs) and a plain one.
LIVE_KEYS = """
SELECT kid, alg, public_jwk::text AS public_jwk, private_key, encrypted,
       extract(epoch FROM published_at)::float8 AS published_at,
       extract(epoch FROM signs_from)::float8 AS signs_from,
       extract(epoch FROM retire_at)::float8 AS retire_at
FROM signing_keys WHERE retire_at IS NULL OR retire_at > now()
"""
INSERT_KEY = """
INSERT INTO signing_keys (kid, alg, public_jwk, private_key, encrypted, signs_from)
VALUES ($1, $2, $3::text::jsonb, $4, $5, now() + make_interval(secs => $6))
"""
# Every key not yet superseded retires when the last JWT it may sign has expired.
SUPERSEDE = """
UPDATE signing_keys SET retire_at = now() + make_interval(secs => $2)
WHERE retire_at IS NULL AND kid <> $1
"""
ANY_LIVE = "SELECT EXISTS (SELECT 1 FROM signing_keys WHERE retire_at IS NULL)"
SIGN_NOW = "UPDATE signing_keys SET signs_from = greatest(now(), published_at) WHERE kid = $1"
DELETE_RETIRED = "DELETE FROM signing_keys WHERE retire_at <= now()"
UNSEALED = "SELECT kid, private_key FROM signing_keys WHERE NOT encrypted"
SEAL = "UPDATE signing_keys SET private_key = $2, encrypted = true WHERE kid = $1"
NOTIFY = "SELECT pg_notify($1, 'keys:' || $2)"


def prepublish_seconds(settings: Settings) -> float:
    """How long a next key is published before it signs: at least one JWT lifetime."""
    return max(float(settings.jwt_ttl_seconds), MIN_PREPUBLISH)


def jwks_max_age(settings: Settings) -> int:
    """The JWKS's Cache-Control max-age: well under the pre-publication time, so a verifier
    that caches it has the next key before the first JWT signed with it."""
    return int(min(300.0, prepublish_seconds(settings) // 2))


async def _insert(conn: asyncpg.Connection, settings: Settings, delay: float) -> str:
    private = signing.generate(settings.jwt_algorithm)
    jwk = signing.public_jwk(private.public_key())
    kid = signing.thumbprint(jwk)
    stored, encrypted = signing.seal(signing.private_der(private), kid,
                                     settings.key_encryption_key)
    await conn.execute(INSERT_KEY, kid, settings.jwt_algorithm, json.dumps(jwk), stored,
                       encrypted, delay)
    await conn.execute(NOTIFY, CHANNEL, kid)
    return kid


async def _rotate_locked(conn: asyncpg.Connection, settings: Settings) -> tuple[str, float]:
    # With no key in service nobody holds a JWT to overlap with: the new one signs at once.
    delay = prepublish_seconds(settings) if await conn.fetchval(ANY_LIVE) else 0.0
    kid = await _insert(conn, settings, delay)
    await conn.execute(SUPERSEDE, kid, delay + settings.jwt_ttl_seconds + CLOCK_SKEW)
    log.info("signing key %s published; it signs in %.0f s", kid, delay)
    return kid, delay


async def rotate(conn: asyncpg.Connection, settings: Settings) -> tuple[str, float]:
    """Publish a new key; returns its kid and in how many seconds it signs (the
    pre-publication time, or 0 when there was no key to overlap with)."""
    _need_key_pairs(settings)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", KEYS_LOCK_ID)
        return await _rotate_locked(conn, settings)


def _due(rows: list[asyncpg.Record], settings: Settings, now: float) -> bool:
    newest = max(rows, key=lambda r: r["signs_from"])
    if newest["alg"] != settings.jwt_algorithm:
        return True  # JWT_ALGORITHM changed: move to it with the same overlap
    days = settings.jwt_key_rotation_days
    return days > 0 and newest["signs_from"] + days * 86400 <= now


async def ensure(conn: asyncpg.Connection, settings: Settings) -> None:
    """A key to sign with (made by whoever gets the lock first), the rotation if one is due,
    retired keys deleted, and every private key sealed once KEY_ENCRYPTION_KEY is set."""
    _need_key_pairs(settings)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", KEYS_LOCK_ID)
        await conn.execute(DELETE_RETIRED)
        rows = await conn.fetch(LIVE_KEYS)
        if not rows:
            kid = await _insert(conn, settings, 0.0)  # nobody can hold a JWT yet
            log.info("signing key %s made", kid)
        elif not any(row["signs_from"] <= time.time() for row in rows):
            # The signing key was deleted (it leaked) before its successor's time: that one
            # signs now, rather than nobody.
            newest = max(rows, key=lambda r: r["signs_from"])
            await conn.execute(SIGN_NOW, newest["kid"])
            await conn.execute(NOTIFY, CHANNEL, newest["kid"])
        elif _due(rows, settings, time.time()):
            await _rotate_locked(conn, settings)
        kek = settings.key_encryption_key
        if kek is not None:
            for row in await conn.fetch(UNSEALED):
                stored, _ = signing.seal(bytes(row["private_key"]), row["kid"], kek)
                await conn.execute(SEAL, row["kid"], stored)


async def load(conn: asyncpg.Connection, settings: Settings, *,
               strict: bool = False) -> list[SigningKey]:
    """The keys not yet retired. One this process cannot open verifies but does not sign
    (logged; SealError instead when `strict`)."""
    keys = []
    for row in await conn.fetch(LIVE_KEYS):
        try:
            private = signing.unseal(bytes(row["private_key"]), row["encrypted"], row["kid"],
                                     settings.key_encryption_key)
        except signing.SealError as err:
            if strict:
                raise
            log.error("signing key %s: %s", row["kid"], err)
            private = None
        public = private.public_key() if private is not None else None
        jwk = json.loads(row["public_jwk"])
        if public is None:
            public = signing.public_key_of(jwk)
        keys.append(SigningKey(row["kid"], row["alg"], public, private, jwk,
                               row["published_at"], row["signs_from"], row["retire_at"]))
    return keys


def _can_sign(keys: list[SigningKey]) -> bool:
    now = time.time()
    return any(k.private is not None and k.signs_from <= now
               and (k.retire_at is None or now < k.retire_at) for k in keys)


def _need_key_pairs(settings: Settings) -> None:
    if settings.jwt_algorithm not in signing.ASYMMETRIC:
        raise ValueError("JWT_ALGORITHM is HS256: there are no key pairs to rotate; "
                         "rotate JWT_SECRET with JWT_PREVIOUS_SECRET instead")


class SigningKeys:
    """This process's KeyRing, kept in step with the table."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.ring = KeyRing()
        self._pool = pool
        self._settings = settings
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._kids: set[str] = set()
        self._refresh_seconds = max(1.0, min(30.0, prepublish_seconds(settings) / 4))
        # Called when a key retires: a verified JWT may be cached past its key's retirement
        # (only one that outlives its key, which we never sign), so the cache is dropped.
        self.on_retired: Callable[[], None] | None = None

    async def start(self) -> None:
        """Make or rotate what is due, load the ring (SealError when the keys cannot be
        opened: the process must not start), then follow changes."""
        async with self._pool.acquire() as conn:
            await ensure(conn, self._settings)
            self.ring.replace(await load(conn, self._settings, strict=True))
        self._kids = {key.kid for key in self.ring.published(time.time())}
        self._task = asyncio.create_task(self._run(), name="signing-keys")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _wait(self) -> float:
        """Until the next refresh, or just past the next retirement if that comes first."""
        now = time.time()
        until = [key.retire_at - now + 0.01 for key in self.ring.published(now)
                 if key.retire_at is not None]
        return max(0.01, min([self._refresh_seconds, *until]))

    def notice(self, ident: str) -> None:
        """A key changed (or, with '', notices may have been missed): reload now."""
        self._wake.set()

    async def _run(self) -> None:
        maintained = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._wait())
            self._wake.clear()
            live = {key.kid for key in self.ring.published(time.time())}
            if self.on_retired is not None and self._kids - live:
                self.on_retired()
            self._kids = live
            try:
                async with self._pool.acquire() as conn:
                    if time.monotonic() - maintained >= MAINTAIN_SECONDS:
                        maintained = time.monotonic()
                        await ensure(conn, self._settings)
                        await denylist.clean(conn)
                    keys = await load(conn, self._settings)
                    if not _can_sign(keys):  # the table was emptied: make a key again
                        await ensure(conn, self._settings)
                        keys = await load(conn, self._settings)
                    if keys:
                        self.ring.replace(keys)
                        self._kids = {key.kid for key in self.ring.published(time.time())}
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: keep the keys we have, retry
                log.warning("signing keys not refreshed (%s)", type(exc).__name__)
