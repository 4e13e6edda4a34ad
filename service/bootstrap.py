"""The first admin: from ADMIN_USERNAME/ADMIN_PASSWORD, or generated on an empty database."""

from __future__ import annotations

import secrets

import asyncpg

from service.auth.passwords import PasswordHasher
from service.config import Settings
from service.errors import ApiError
from service.users import repo as users_repo
from service.users.routes import create_user

# Serialises bootstrap across instances starting at once.
BOOTSTRAP_LOCK_ID = 0x6D72736E


async def ensure_admin(conn: asyncpg.Connection, settings: Settings,
                       hasher: PasswordHasher) -> tuple[str, str] | None:
    """Create the first admin if asked to or if there are no users.

    Returns (username, password) when a password was generated, so the caller
    can print it once; None otherwise.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", BOOTSTRAP_LOCK_ID)
        if settings.admin_username and settings.admin_password:
            if await users_repo.by_name(conn, settings.admin_username) is None:
                try:
                    await create_user(conn, hasher, username=settings.admin_username,
                                      password=settings.admin_password, type_="admin")
                except ApiError as err:
                    raise SystemExit(f"cannot create ADMIN_USERNAME: {err.description}") from None
            return None
        if await users_repo.count(conn) == 0:
            password = secrets.token_urlsafe(18)
            await create_user(conn, hasher, username="admin", password=password, type_="admin")
            return "admin", password
    return None
