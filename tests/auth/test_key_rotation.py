"""Rotating the HS256 secret without logging everyone out (JWT_SECRET, JWT_PREVIOUS_SECRET)."""

from __future__ import annotations

import asyncpg

from service.app import create_app
from tests.support.api import ADMIN_PASSWORD

OLD = "old-signing-key-" + "o" * 32
NEW = "new-signing-key-" + "n" * 32


async def login(client, username: str = "admin", password: str = ADMIN_PASSWORD) -> dict:
    resp = await client.post("/login", data={"grant_type": "password", "username": username,
                                             "password": password})
    assert resp.status == 200
    return {"Authorization": f"Bearer {(await resp.json())['access_token']}"}


async def me(client, headers) -> int:
    return (await client.get("/users/me", headers=headers)).status


async def test_rotation_accepts_the_previous_key_until_it_is_dropped(aiohttp_client, api,
                                                                   make_settings):
    await api.create_user("admin", ADMIN_PASSWORD, type_="admin")
    before = await aiohttp_client(create_app(make_settings(jwt_algorithm="HS256", jwt_secret=OLD)))
    old_bearer = await login(before)

    # Step 1: new key, old one still accepted. Both bearers work; new ones use the new key.
    during = await aiohttp_client(create_app(make_settings(jwt_algorithm="HS256", jwt_secret=NEW,
                                                           jwt_previous_secret=OLD)))
    assert await me(during, old_bearer) == 200
    new_bearer = await login(during)
    assert await me(during, new_bearer) == 200
    assert await me(before, new_bearer) == 401  # signed with the new key, not the old

    # Step 2, one JWT lifetime later: the previous key goes; its bearers are refused.
    after = await aiohttp_client(create_app(make_settings(jwt_algorithm="HS256", jwt_secret=NEW)))
    assert await me(after, new_bearer) == 200
    resp = await after.get("/users/me", headers=old_bearer)
    assert resp.status == 401
    assert (await resp.json())["error"] == "invalid_token"


async def test_rotating_away_from_the_key_stored_in_the_database(aiohttp_client, api,
                                                                 make_settings, database_url):
    """Without JWT_SECRET the key lives in service_settings; it becomes JWT_PREVIOUS_SECRET."""
    await api.create_user("admin", ADMIN_PASSWORD, type_="admin")
    stored_app = await aiohttp_client(create_app(make_settings(jwt_algorithm="HS256",
                                                               jwt_secret=None)))
    bearer = await login(stored_app)
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval(
            "SELECT value FROM service_settings WHERE key = 'jwt_secret'")
    finally:
        await conn.close()
    rotated = await aiohttp_client(create_app(make_settings(jwt_algorithm="HS256", jwt_secret=NEW,
                                                            jwt_previous_secret=stored)))
    assert await me(rotated, bearer) == 200
    dropped = await aiohttp_client(create_app(make_settings(jwt_algorithm="HS256", jwt_secret=NEW)))
    assert await me(dropped, bearer) == 401


async def test_api_keys_do_not_depend_on_the_signing_key(aiohttp_client, api, make_settings):
    await api.create_user("admin", ADMIN_PASSWORD, type_="admin")
    before = await aiohttp_client(create_app(make_settings(jwt_algorithm="HS256", jwt_secret=OLD)))
    resp = await before.post("/tokens", json={"label": "survives-rotation"},
                             headers=await login(before))
    key = {"Authorization": (await resp.json())["api_key"]}
    after = await aiohttp_client(create_app(make_settings(jwt_algorithm="HS256", jwt_secret=NEW)))
    assert await me(after, key) == 200
