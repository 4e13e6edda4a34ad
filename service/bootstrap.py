"""The first admin: from ADMIN_USERNAME/ADMIN_PASSWORD, or generated on an empty database."""

from __future__ import annotations

import secrets

import asyncpg

from service.auth.passwords import PasswordHasher
from service.config import Settings
from service.errors import ApiError
from service.tokens.ops import OPERATOR
from service.users import ops
from service.users import repo as users_repo

# Serialises bootstrap across instances starting at once.
BOOTSTRAP_LOCK_ID = 0x6D72736E


async def ensure_admin(conn: asyncpg.Connection, settings: Settings,
                       hasher: PasswordHasher) -> tuple[str, str] | None:
    """Create the first admin if asked to or if there are no users.

    Returns (username, password) when a password was generated, so the caller
    can print it once; None otherwise. The admin is audited like any new user, made by
    the database's operator, the event saying which bootstrap made it.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", BOOTSTRAP_LOCK_ID)
        if settings.admin_username and settings.admin_password:
            if await users_repo.by_name(conn, settings.admin_username) is None:
                try:
                    await ops.register(conn, hasher, OPERATOR, source=None,
                                       username=settings.admin_username,
                                       password=settings.admin_password, type_="admin",
                                       details={"bootstrap": "ADMIN_USERNAME"})
                except ApiError as err:
                    raise SystemExit(f"cannot create ADMIN_USERNAME: {err.description}") from None
            return None
        if await users_repo.count(conn) == 0:
            password = secrets.token_urlsafe(18)
            await ops.register(conn, hasher, OPERATOR, source=None, username="admin",
                               password=password, type_="admin",
                               details={"bootstrap": "generated password"})
            return "admin", password
    return None
