"""The Redis store (REDIS_URL): shared between processes, self-expiring, and an outage
that refuses logins clearly (503) without a 500 and without forgetting a known block.

The rest of the throttling behaviour runs on Redis too: `limits` is parametrized."""

from __future__ import annotations

import logging
import socket
from dataclasses import replace

import pytest

from service import keys
from service.abuse.stores import RedisStore
from service.app import create_app
from service.auth.apikeys import make_api_key, new_secret
from tests.support.api import USER_PASSWORD, Api
from tests.support.assertions import assert_error, connect
from tests.support.throttling import LIMITS, Backend, from_ip, password_login

ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"


@pytest.fixture
async def redis_backend(database_url):
    b = Backend("redis", database_url)
    yield b
    await b.clean()


def dead_redis_url() -> str:
    """A Redis URL on 127.0.0.1 where nothing listens (a port just freed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


async def app_api(aiohttp_client, settings) -> Api:
    return Api(await aiohttp_client(create_app(settings)), settings)


async def test_two_apps_share_a_block_through_redis(aiohttp_client, make_settings,
                                                    redis_backend, database_url):
    settings = make_settings(abuse=redis_backend.settings(LIMITS))
    first = await app_api(aiohttp_client, settings)
    second = await app_api(aiohttp_client, settings)
    await first.create_user("alice")
    for _ in range(LIMITS.pair_failures):
        resp = await password_login(first, "alice", "wrong-password", ATTACKER)
        await assert_error(resp, 400, "invalid_grant")
    # The second app saw none of it, yet refuses the right password from that address.
    resp = await password_login(second, "alice", USER_PASSWORD, ATTACKER)
    await assert_error(resp, 429, "too_many_requests")
    assert 1 <= int(resp.headers["Retry-After"]) <= LIMITS.penalty_seconds
    assert (await password_login(second, "alice", USER_PASSWORD, OWNER)).status == 200
    # It went through Redis: the database's table was never written.
    async with connect(database_url) as conn:
        assert await conn.fetchval("SELECT count(*) FROM auth_throttle") == 0


async def test_redis_keys_expire_by_themselves(redis_backend, aiohttp_client,
                                               make_settings):
    settings = make_settings(abuse=redis_backend.settings(LIMITS))
    api = await app_api(aiohttp_client, settings)
    await api.create_user("alice")
    for _ in range(LIMITS.pair_failures):
        await password_login(api, "alice", "wrong-password", ATTACKER)
    ttls = await redis_backend.ttls()
    counters = {k: v for k, v in ttls.items() if k.endswith(":n")}
    blocks = {k: v for k, v in ttls.items() if k.endswith(":b")}
    assert len(counters) == 3 and len(blocks) == 1  # source, user, pair; the pair blocked
    assert all(k.startswith(redis_backend.prefix) for k in ttls)
    assert all(0 < ms <= LIMITS.window_seconds * 1000 for ms in counters.values())
    assert all(0 < ms <= LIMITS.penalty_seconds * 1000 for ms in blocks.values())


async def test_unreachable_redis_refuses_logins_with_503_and_keys_still_work(
        aiohttp_client, make_settings, caplog):
    # Arranged on the database-backed app (the same database), then used on a dead Redis.
    setup = await app_api(aiohttp_client, make_settings(abuse=LIMITS))
    await setup.create_user("alice")
    token = await setup.create_token(await setup.bearer("alice"), label="device")
    settings = make_settings(abuse=replace(LIMITS, redis_url=dead_redis_url()))
    api = await app_api(aiohttp_client, settings)
    caplog.set_level(logging.WARNING, logger="service.abuse")

    # A login cannot be checked against the shared blocks: refused, clearly, not unchecked.
    for password in (USER_PASSWORD, "wrong-password"):
        resp = await password_login(api, "alice", password, OWNER)
        body = await assert_error(resp, 503, "service_unavailable")
        assert "throttling store" in body["error_description"]
        assert resp.headers["Retry-After"] == "1"
    # An API key needs no Redis to succeed, and a wrong one is still a 401, not a 500.
    forged = make_api_key(token["id"], new_secret())
    for _ in range(LIMITS.source_failures + 2):
        resp = await api.client.get("/users/me", headers=from_ip(ATTACKER, {
            "Authorization": forged}))
        await assert_error(resp, 401, "invalid_token")
    resp = await api.client.get("/users/me", headers=from_ip(ATTACKER, {
        "Authorization": token["api_key"]}))
    assert resp.status == 200, await resp.text()
    # The client-credentials grant checks blocks in-process: a right secret still works,
    # a wrong one cannot be counted and is refused with the same 503.
    assert await api.client_credentials(token)
    resp = await api.client.post("/login", headers=from_ip(ATTACKER), data={
        "grant_type": "client_credentials", "client_id": token["id"],
        "client_secret": new_secret()})
    await assert_error(resp, 503, "service_unavailable")
    # One warning for the outage, not one per request.
    warnings = [r for r in caplog.records if "redis unavailable" in r.getMessage()]
    assert len(warnings) == 1


async def test_a_known_block_holds_while_redis_is_down(aiohttp_client, make_settings,
                                                       redis_backend):
    settings = make_settings(abuse=redis_backend.settings(LIMITS))
    api = await app_api(aiohttp_client, settings)
    await api.create_user("alice")
    token = await api.create_token(await api.bearer("alice"), label="device")
    for i in range(LIMITS.source_failures):
        await api.client.get("/users/me", headers=from_ip(ATTACKER, {
            "Authorization": f"mrsm-key:garbage{i}"}))
    # Redis goes away (this process now talks to a closed port).
    throttle = api.client.app[keys.ABUSE].throttle
    live, throttle.store = throttle.store, RedisStore(replace(settings.abuse,
                                                              redis_url=dead_redis_url()))
    await live.close()
    resp = await api.client.get("/users/me", headers=from_ip(ATTACKER, {
        "Authorization": token["api_key"]}))
    await assert_error(resp, 429, "too_many_requests")
    resp = await password_login(api, "alice", USER_PASSWORD, ATTACKER)
    await assert_error(resp, 429, "too_many_requests")
    # An address with no known block cannot be checked: 503, never an unchecked 200.
    resp = await password_login(api, "alice", USER_PASSWORD, OWNER)
    await assert_error(resp, 503, "service_unavailable")
