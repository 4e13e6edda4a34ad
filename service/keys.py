"""Every `web.AppKey` and `web.RequestKey` of the application, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from service.auth.principal import Principal
from service.config import Settings

if TYPE_CHECKING:
    from service.abuse.hooks import Guard
    from service.auth.authenticator import Authenticator
    from service.auth.jwt import JwtCodec
    from service.auth.passwords import PasswordHasher

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
HASHER: web.AppKey[PasswordHasher] = web.AppKey("hasher")
JWT: web.AppKey[JwtCodec] = web.AppKey("jwt")
AUTHN: web.AppKey[Authenticator] = web.AppKey("authenticator")
ABUSE: web.AppKey[Guard] = web.AppKey("abuse")  # throttling, token limits, login audit

# Per request.
PRINCIPAL = web.RequestKey("principal", Principal)
