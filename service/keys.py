"""Every `web.AppKey` and `web.RequestKey` of the application, in one place.

The services named here are made by the start-up steps in service.app and handed to
the front and the routes through these keys; none of them reads a key itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from service.auth.principal import Principal
from service.config import Settings

if TYPE_CHECKING:
    from service.abuse.guard import AbuseGuard
    from service.auth.authenticator import Authenticator
    from service.auth.jwt import JwtCodec
    from service.auth.keystore import SigningKeys
    from service.auth.passwords import PasswordHasher
    from service.batches import BatchWriter
    from service.groups import GroupWriter

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
HASHER: web.AppKey[PasswordHasher] = web.AppKey("hasher")
JWT: web.AppKey[JwtCodec] = web.AppKey("jwt")
# Key pairs in the database; None under HS256 (the codec's ring then holds the secrets).
SIGNING: web.AppKey[SigningKeys | None] = web.AppKey("signing_keys")
AUTHN: web.AppKey[Authenticator] = web.AppKey("authenticator")
ABUSE: web.AppKey[AbuseGuard] = web.AppKey("abuse")  # throttling and token limits
AUDIT: web.AppKey[BatchWriter] = web.AppKey("audit")  # login events, written in batches
INGEST: web.AppKey[GroupWriter] = web.AppKey("ingest")  # pipe rows, written in groups

# Per request.
PRINCIPAL = web.RequestKey("principal", Principal)
