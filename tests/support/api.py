"""The real app over aiohttp's test client: the passwords of the usual people, and `Api`."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from service.auth.passwords import PasswordHasher
from service.config import Settings
from service.users.ops import insert_user as create_user

ADMIN_PASSWORD = "admin-password-1"  # noqa: S105 (a test fixture)
USER_PASSWORD = "user-password-1"  # noqa: S105


class Api:
    """Small helpers over the real HTTP API, for arranging tests."""

    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    async def create_user(self, username: str, password: str = USER_PASSWORD, *,
                          type_: str = "user", scopes: list[str] | None = None) -> dict:
        hasher = PasswordHasher(self.settings)
        conn = await asyncpg.connect(self.settings.database_url)
        try:
            row = await create_user(conn, hasher, username=username, password=password,
                                    type_=type_, scopes=scopes)
        finally:
            await conn.close()
            hasher.close()
        return dict(row)

    async def login(self, username: str, password: str, **extra: str) -> str:
        resp = await self.client.post("/login", data={"grant_type": "password",
                                                      "username": username,
                                                      "password": password, **extra})
        assert resp.status == 200, await resp.text()
        return (await resp.json())["access_token"]

    async def bearer(self, username: str, password: str = USER_PASSWORD) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.login(username, password)}"}

    async def admin_headers(self) -> dict[str, str]:
        """The admin user `admin` (password ADMIN_PASSWORD), made now, and its bearer."""
        await self.create_user("admin", ADMIN_PASSWORD, type_="admin")
        return await self.bearer("admin", ADMIN_PASSWORD)

    async def create_token(self, headers: dict[str, str], **body: Any) -> dict:
        resp = await self.client.post("/tokens", json=body, headers=headers)
        assert resp.status == 201, await resp.text()
        return await resp.json()

    async def client_credentials(self, token: dict, **extra: str) -> str:
        resp = await self.client.post("/login", data={"grant_type": "client_credentials",
                                                      "client_id": token["id"],
                                                      "client_secret": token["secret"], **extra})
        assert resp.status == 200, await resp.text()
        return (await resp.json())["access_token"]
