"""Failed /login attempts: per (username, address), per username, per address; shared state."""

from __future__ import annotations

import asyncio

from service.app import create_app
from tests.support.api import USER_PASSWORD, Api
from tests.support.assertions import assert_error
from tests.support.throttling import LIMITS, from_ip, password_login

ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"


def retry_after(resp) -> int:
    value = int(resp.headers["Retry-After"])
    assert 1 <= value <= LIMITS.penalty_seconds
    return value


async def test_pair_budget_then_429_with_retry_after_even_for_the_right_password(tapi):
    await tapi.create_user("alice")
    for _ in range(LIMITS.pair_failures):
        resp = await password_login(tapi, "alice", "wrong-password", ATTACKER)
        await assert_error(resp, 400, "invalid_grant")
    resp = await password_login(tapi, "alice", "wrong-password", ATTACKER)
    await assert_error(resp, 429, "too_many_requests")
    retry_after(resp)
    assert resp.headers["Cache-Control"] == "no-store"
    # Blocked before verifying: the right password from this address is refused too.
    resp = await password_login(tapi, "alice", USER_PASSWORD, ATTACKER)
    await assert_error(resp, 429, "too_many_requests")


async def test_the_owner_from_another_address_is_not_locked_out(tapi):
    await tapi.create_user("alice")
    for _ in range(LIMITS.pair_failures + 2):
        await password_login(tapi, "alice", "wrong-password", ATTACKER)
    resp = await password_login(tapi, "alice", USER_PASSWORD, OWNER)
    assert resp.status == 200, await resp.text()
    # The attacker's address may still try other usernames (its source budget is not spent).
    await tapi.create_user("bob")
    resp = await password_login(tapi, "bob", USER_PASSWORD, ATTACKER)
    assert resp.status == 200, await resp.text()


async def test_usernames_are_counted_without_regard_to_case(tapi):
    await tapi.create_user("alice")
    for name in ("alice", "ALICE", "Alice"):
        await password_login(tapi, name, "wrong-password", ATTACKER)
    resp = await password_login(tapi, "aLiCe", USER_PASSWORD, ATTACKER)
    await assert_error(resp, 429, "too_many_requests")


async def test_distributed_attack_lowers_each_address_budget_to_one(tapi):
    await tapi.create_user("alice")
    # Two failures each from enough addresses to pass the account budget, none blocked.
    addresses = [f"192.0.2.{i}" for i in range(1, LIMITS.account_failures // 2 + 1)]
    for address in addresses:
        for _ in range(2):
            resp = await password_login(tapi, "alice", "wrong-password", address)
            await assert_error(resp, 400, "invalid_grant")
    # Under attack: a new address's first failure blocks that address for this username...
    resp = await password_login(tapi, "alice", "wrong-password", "192.0.2.200")
    await assert_error(resp, 400, "invalid_grant")
    resp = await password_login(tapi, "alice", USER_PASSWORD, "192.0.2.200")
    await assert_error(resp, 429, "too_many_requests")
    # ...but the owner, from an address that has not failed, still gets in.
    resp = await password_login(tapi, "alice", USER_PASSWORD, OWNER)
    assert resp.status == 200, await resp.text()


async def test_source_budget_blocks_an_address_spraying_usernames(tapi):
    await tapi.create_user("alice")
    for i in range(LIMITS.source_failures):
        resp = await password_login(tapi, f"user{i}", "wrong-password", ATTACKER)
        await assert_error(resp, 400, "invalid_grant")
    resp = await password_login(tapi, "alice", USER_PASSWORD, ATTACKER)
    await assert_error(resp, 429, "too_many_requests")
    resp = await password_login(tapi, "alice", USER_PASSWORD, OWNER)
    assert resp.status == 200


async def test_unknown_usernames_are_throttled_like_known_ones(tapi):
    for _ in range(LIMITS.pair_failures):
        await password_login(tapi, "nobody", "wrong-password", ATTACKER)
    resp = await password_login(tapi, "nobody", "wrong-password", ATTACKER)
    await assert_error(resp, 429, "too_many_requests")


async def test_the_block_is_shared_by_every_process(tapi, aiohttp_client):
    await tapi.create_user("alice")
    for _ in range(LIMITS.pair_failures):
        await password_login(tapi, "alice", "wrong-password", ATTACKER)
    # A second app on the same database, which saw none of the failures.
    other_client = await aiohttp_client(create_app(tapi.settings))
    other = Api(other_client, tapi.settings)
    resp = await password_login(other, "alice", USER_PASSWORD, ATTACKER)
    await assert_error(resp, 429, "too_many_requests")
    resp = await password_login(other, "alice", USER_PASSWORD, OWNER)
    assert resp.status == 200


async def test_the_block_ends_after_the_penalty(aiohttp_client, make_settings, limits):
    from dataclasses import replace

    settings = make_settings(abuse=replace(limits, penalty_seconds=1))
    api = Api(await aiohttp_client(create_app(settings)), settings)
    await api.create_user("alice")
    for _ in range(LIMITS.pair_failures):
        await password_login(api, "alice", "wrong-password", ATTACKER)
    resp = await password_login(api, "alice", USER_PASSWORD, ATTACKER)
    await assert_error(resp, 429, "too_many_requests")
    await asyncio.sleep(1.2)
    resp = await password_login(api, "alice", USER_PASSWORD, ATTACKER)
    assert resp.status == 200, await resp.text()


async def test_failures_only_are_stored_and_keys_are_hashed(tapi, backend):
    await tapi.create_user("alice")
    for _ in range(5):
        assert (await password_login(tapi, "alice", USER_PASSWORD, OWNER)).status == 200
    assert await backend.stored() == []
    await password_login(tapi, "alice", "my-secret-typed-as-username", ATTACKER)
    await password_login(tapi, "my-secret-typed-as-username", "x", ATTACKER)
    rows = await backend.stored()
    dump = " ".join(key for _, key in rows)
    assert {rule for rule, _ in rows} == {"source", "user", "user_source"}
    assert len(rows) == 5  # one source; two users and two (user, source) pairs
    assert all(len(bytes.fromhex(key)) == 32 for _, key in rows)
    assert "alice" not in dump and "my-secret" not in dump


async def test_the_proxy_header_is_ignored_unless_configured(aiohttp_client, make_settings,
                                                              limits):
    from dataclasses import replace

    settings = make_settings(abuse=replace(limits, trusted_proxy_header=None,
                                           trusted_proxies=()))
    api = Api(await aiohttp_client(create_app(settings)), settings)
    await api.create_user("alice")
    for i in range(LIMITS.pair_failures):
        # A different forged address each time: all counted as the socket's 127.0.0.1.
        await password_login(api, "alice", "wrong-password", f"192.0.2.{i + 1}")
    resp = await password_login(api, "alice", USER_PASSWORD, OWNER)
    await assert_error(resp, 429, "too_many_requests")


async def test_the_rightmost_untrusted_hop_is_the_client(tapi):
    await tapi.create_user("alice")
    # The left part is the client's own say-so; the proxy appended the real peer.
    for i in range(LIMITS.pair_failures):
        headers = from_ip(f"10.9.9.{i}, {ATTACKER}")
        await tapi.client.post("/login", headers=headers, data={
            "grant_type": "password", "username": "alice", "password": "wrong"})
    resp = await password_login(tapi, "alice", USER_PASSWORD, ATTACKER)
    await assert_error(resp, 429, "too_many_requests")
    resp = await password_login(tapi, "alice", USER_PASSWORD, "10.9.9.0")
    assert resp.status == 200


async def test_malformed_requests_are_not_counted(tapi):
    await tapi.create_user("alice")
    for _ in range(LIMITS.pair_failures + 2):
        resp = await tapi.client.post("/login", headers=from_ip(ATTACKER),
                                      data={"grant_type": "password", "username": "alice"})
        await assert_error(resp, 400, "invalid_request")
    resp = await password_login(tapi, "alice", USER_PASSWORD, ATTACKER)
    assert resp.status == 200
