"""Argon2id passwords: production parameters, what the stored hash says, rehash on login."""

from __future__ import annotations

import asyncio

import argon2
import pytest

from service.app import create_app
from service.auth.passwords import PasswordHasher
from service.config import Settings
from tests.support.api import Api
from tests.support.assertions import (
    assert_error,
    bearer,
    connect,
)

PRODUCTION_PREFIX = "$argon2id$v=19$m=65536,t=3,p=4$"


async def stored_hash(dsn: str, username: str) -> str:
    async with connect(dsn) as conn:
        return await conn.fetchval("SELECT password_hash FROM users WHERE username = $1",
                                   username)


def test_defaults_are_rfc_9106_low_memory():
    profile = argon2.profiles.RFC_9106_LOW_MEMORY
    defaults = Settings()
    assert (defaults.argon2_time_cost, defaults.argon2_memory_cost,
            defaults.argon2_parallelism) == (3, 65536, 4)
    assert (profile.time_cost, profile.memory_cost, profile.parallelism) == (3, 65536, 4)
    assert Settings.from_env({}).argon2_memory_cost == 65536


async def test_production_hasher_encodes_its_parameters():
    hasher = PasswordHasher(Settings())
    try:
        stored = await hasher.hash("correct horse battery")
        assert stored.startswith(PRODUCTION_PREFIX)
        params = argon2.extract_parameters(stored)
        assert params.type is argon2.Type.ID
        assert (params.time_cost, params.memory_cost, params.parallelism) == (3, 65536, 4)
        assert await hasher.verify(stored, "correct horse battery") is True
        assert await hasher.verify(stored, "correct horse batterY") is False
        # An unknown user verifies against a dummy hash and is never a match.
        assert await hasher.verify(None, "not a real password, only for timing") is False
        assert await hasher.verify("not-a-hash", "whatever") is False
        assert not hasher.needs_rehash(stored)
        cheap = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("x")
        assert hasher.needs_rehash(cheap)
        # Salted: the same password never hashes the same twice.
        assert await hasher.hash("correct horse battery") != stored
    finally:
        hasher.close()


async def test_http_user_gets_a_production_hash(aiohttp_client, make_settings, admin_headers,
                                                database_url):
    settings = make_settings(argon2_time_cost=3, argon2_memory_cost=65536, argon2_parallelism=4)
    api = Api(await aiohttp_client(create_app(settings)), settings)
    resp = await api.client.post("/users", headers=admin_headers,
                                 json={"username": "prod", "password": "production-pass"})
    assert resp.status == 201
    stored = await stored_hash(database_url, "prod")
    assert stored.startswith(PRODUCTION_PREFIX)
    assert "production-pass" not in stored
    await api.login("prod", "production-pass")


async def test_rehash_on_login_when_parameters_change(api, aiohttp_client, make_settings,
                                                      database_url):
    await api.create_user("alice", "alice-password")
    old = await stored_hash(database_url, "alice")
    assert old.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    old_jwt = await api.login("alice", "alice-password")

    settings = make_settings(argon2_time_cost=2, argon2_memory_cost=16, argon2_parallelism=2)
    stronger = Api(await aiohttp_client(create_app(settings)), settings)
    # A wrong password changes nothing.
    resp = await stronger.client.post("/login", data={"grant_type": "password",
                                                      "username": "alice",
                                                      "password": "wrong-password"})
    await assert_error(resp, 400, "invalid_grant")
    assert await stored_hash(database_url, "alice") == old

    await stronger.login("alice", "alice-password")
    new = await stored_hash(database_url, "alice")
    assert new.startswith("$argon2id$v=19$m=16,t=2,p=2$")
    # Same password: both apps still accept it, and a rehash is not a password change.
    await stronger.login("alice", "alice-password")
    assert await stored_hash(database_url, "alice") == new  # no second rehash
    await api.login("alice", "alice-password")  # the old app verifies the new hash
    resp = await stronger.client.get("/users/me", headers=bearer(old_jwt))
    assert resp.status == 200


async def test_corrupt_stored_hash_is_invalid_grant_not_500(api, database_url):
    await api.create_user("alice", "alice-password")
    async with connect(database_url) as conn:
        await conn.execute("UPDATE users SET password_hash = 'garbage' WHERE username = 'alice'")
    resp = await api.client.post("/login", data={"grant_type": "password", "username": "alice",
                                                 "password": "alice-password"})
    await assert_error(resp, 400, "invalid_grant")


@pytest.mark.parametrize("password", ["pässwörd-ünïcode", "emoji 🔑🔑🔑🔑", "x" * 1024,
                                      "  spaces  around  "])
async def test_passwords_are_used_exactly(api, password):
    await api.create_user("alice", password)
    await api.login("alice", password)
    resp = await api.client.post("/login", data={"grant_type": "password", "username": "alice",
                                                 "password": password.strip() + "!"})
    await assert_error(resp, 400, "invalid_grant")


async def test_full_hash_queue_answers_503(aiohttp_client, make_settings, api):
    await api.create_user("alice", "alice-password")
    settings = make_settings(argon2_time_cost=3, argon2_memory_cost=65536, argon2_parallelism=4,
                             hash_workers=1, hash_queue=1)
    busy = await aiohttp_client(create_app(settings))
    form = {"grant_type": "password", "username": "alice", "password": "alice-password"}
    answers = await asyncio.gather(*(busy.post("/login", data=form) for _ in range(8)))
    statuses = sorted(r.status for r in answers)
    assert 200 in statuses and 503 in statuses, statuses
    assert set(statuses) <= {200, 503}
    for resp in answers:
        if resp.status == 503:
            await assert_error(resp, 503, "service_unavailable")
            assert resp.headers["Retry-After"] == "1"


async def test_rehash_never_undoes_a_concurrent_password_change(api, aiohttp_client,
                                                                make_settings, database_url):
    """A login that rehashes must not write back the old password over a newer one.

    The login verifies the old password against the cheap hash, then spends a slow
    argon2 hash on it; a password change lands in that window. Whatever the order,
    afterwards the new password works and the old one does not.
    """
    await api.create_user("alice", "old-password")
    alice = await api.bearer("alice", "old-password")
    settings = make_settings(argon2_time_cost=4, argon2_memory_cost=65536,
                             argon2_parallelism=1)
    slow = await aiohttp_client(create_app(settings))
    form = {"grant_type": "password", "username": "alice", "password": "old-password"}
    login = asyncio.ensure_future(slow.post("/login", data=form))
    await asyncio.sleep(0.1)  # the login has verified and is hashing
    resp = await api.client.patch("/users/me", headers=alice,
                                  json={"current_password": "old-password",
                                        "new_password": "new-password"})
    assert resp.status == 200
    assert (await login).status in (200, 400)
    await api.login("alice", "new-password")
    resp = await api.client.post("/login", data=form)
    await assert_error(resp, 400, "invalid_grant")
