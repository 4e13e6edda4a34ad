"""Revocation across real server processes sharing one database."""

import asyncio
import time
import uuid

import aiohttp
import asyncpg
import pytest

from tests.support.api import ADMIN_PASSWORD
from tests.support.servers import run_server


@pytest.fixture
def two_servers(database_url):
    # Started after this test's tables were emptied: the first one creates the admin.
    admin = {"ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": ADMIN_PASSWORD}
    with run_server(database_url, **admin) as a, run_server(database_url, **admin) as b:
        yield a, b


async def _admin_bearer(session, base_url) -> dict[str, str]:
    async with session.post(base_url + "/login", data={
            "grant_type": "password", "username": "admin", "password": ADMIN_PASSWORD}) as resp:
        assert resp.status == 200
        return {"Authorization": f"Bearer {(await resp.json())['access_token']}"}


async def _new_token(session, base_url, headers) -> tuple[dict, str]:
    async with session.post(base_url + "/tokens", json={"label": "fleet"},
                            headers=headers) as resp:
        assert resp.status == 201
        token = await resp.json()
    async with session.post(base_url + "/login", data={
            "grant_type": "client_credentials", "client_id": token["id"],
            "client_secret": token["secret"]}) as resp:
        assert resp.status == 200
        jwt = (await resp.json())["access_token"]
    return token, jwt


async def _status(session, base_url, credential) -> int:
    async with session.get(base_url + "/users/me",
                           headers={"Authorization": credential}) as resp:
        return resp.status


async def _seconds_until_refused(session, base_url, credentials) -> float:
    started = time.monotonic()
    while True:
        statuses = [await _status(session, base_url, c) for c in credentials]
        if all(s == 401 for s in statuses):
            return time.monotonic() - started
        assert all(s in (200, 401) for s in statuses), statuses
        assert time.monotonic() - started < 3, "still accepted after 3 s"
        await asyncio.sleep(0.01)


async def _kill_listener_of(pid: int, database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = $1", f"mrsm-auth-listener-{pid}")
        assert killed == 1
    finally:
        await conn.close()


@pytest.mark.parametrize("listener_killed", [False, True], ids=["listening", "listener-killed"])
async def test_invalidation_through_one_process_is_refused_by_the_other_within_a_second(
    two_servers, database_url, listener_killed
):
    a, b = two_servers
    async with aiohttp.ClientSession() as session:
        admin = await _admin_bearer(session, a.base_url)
        token, jwt = await _new_token(session, a.base_url, admin)
        credentials = [token["api_key"], f"Bearer {jwt}"]
        for server in (a, b):
            for credential in credentials:  # twice: the second answer comes from the cache
                assert await _status(session, server.base_url, credential) == 200
                assert await _status(session, server.base_url, credential) == 200
        if listener_killed:
            await _kill_listener_of(b.process.pid, database_url)
        async with session.post(f"{a.base_url}/tokens/{token['id']}/invalidate",
                                headers=admin) as resp:
            assert resp.status == 200
        elapsed = await _seconds_until_refused(session, b.base_url, credentials)
        assert elapsed < 1.0, f"process B accepted the revoked credentials for {elapsed:.3f} s"
        assert await _status(session, a.base_url, token["api_key"]) == 401


async def test_deleting_the_token_through_one_process_ends_its_jwt_on_the_other(
    two_servers,
):
    a, b = two_servers
    async with aiohttp.ClientSession() as session:
        admin = await _admin_bearer(session, a.base_url)
        token, jwt = await _new_token(session, a.base_url, admin)
        assert await _status(session, b.base_url, f"Bearer {jwt}") == 200
        async with session.delete(f"{a.base_url}/tokens/{token['id']}", headers=admin) as resp:
            assert resp.status == 204
        assert await _seconds_until_refused(session, b.base_url, [f"Bearer {jwt}"]) < 1.0
        assert uuid.UUID(token["id"]).version == 4


async def _warm(session, servers, credentials) -> None:
    for server in servers:
        for credential in credentials:  # twice: the second answer comes from the cache
            assert await _status(session, server.base_url, credential) == 200
            assert await _status(session, server.base_url, credential) == 200


async def test_rotation_without_overlap_ends_the_secret_and_its_jwts_everywhere(two_servers):
    a, b = two_servers
    async with aiohttp.ClientSession() as session:
        admin = await _admin_bearer(session, a.base_url)
        token, jwt = await _new_token(session, a.base_url, admin)
        old = [token["api_key"], f"Bearer {jwt}"]
        await _warm(session, (a, b), old)
        async with session.post(f"{a.base_url}/tokens/{token['id']}/rotate",
                                json={"overlap_seconds": 0}, headers=admin) as resp:
            assert resp.status == 200
            new = await resp.json()
        elapsed = await _seconds_until_refused(session, b.base_url, old)
        assert elapsed < 1.0, f"process B accepted the old secret for {elapsed:.3f} s"
        for server in (a, b):
            assert await _status(session, server.base_url, new["api_key"]) == 200
            assert await _status(session, server.base_url, token["api_key"]) == 401


async def test_rotation_with_overlap_is_announced_by_the_other_process(two_servers):
    a, b = two_servers
    async with aiohttp.ClientSession() as session:
        admin = await _admin_bearer(session, a.base_url)
        token, _ = await _new_token(session, a.base_url, admin)
        await _warm(session, (b,), [token["api_key"]])
        async with session.post(f"{a.base_url}/tokens/{token['id']}/rotate",
                                json={"overlap_seconds": 600}, headers=admin) as resp:
            until = (await resp.json())["previous_secret_expires_at"]
        started = time.monotonic()
        while True:  # B's cached principal is dropped; the next answer names the deadline
            async with session.get(b.base_url + "/users/me",
                                   headers={"Authorization": token["api_key"]}) as resp:
                assert resp.status == 200
                if "Mrsm-Token-Rotated" in resp.headers:
                    assert resp.headers["Mrsm-Token-Rotated"] == until
                    break
            assert time.monotonic() - started < 1.0, "B did not hear of the rotation"
            await asyncio.sleep(0.01)


async def test_a_leak_reported_to_one_process_is_refused_by_the_other(two_servers):
    a, b = two_servers
    async with aiohttp.ClientSession() as session:
        admin = await _admin_bearer(session, a.base_url)
        token, jwt = await _new_token(session, a.base_url, admin)
        credentials = [token["api_key"], f"Bearer {jwt}"]
        await _warm(session, (b,), credentials)
        async with session.post(f"{a.base_url}/tokens/leaked",
                                json={"keys": [token["api_key"]]}) as resp:
            assert resp.status == 202
        assert await _seconds_until_refused(session, b.base_url, credentials) < 1.0
