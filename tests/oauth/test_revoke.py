"""POST /revoke (RFC 7009): a JWT denied until its exp on every process, an API key
invalidated; 200 with an empty body for every well-formed request."""

from __future__ import annotations

import time

import asyncpg
import pytest

from service.auth import denylist
from tests.support.api import ADMIN_PASSWORD
from tests.support.assertions import assert_error, basic, bearer, claims_of


@pytest.fixture
async def alice(api, user_headers) -> dict:
    token = await api.create_token(user_headers, label="client")
    return {"token": token, "jwt": await api.client_credentials(token),
            "headers": user_headers}


async def revoke(api, token: str, client: dict | None = None, headers: dict | None = None,
                 **form) -> None:
    """Asserts the RFC 7009 §2.2 answer: 200, nothing in the body."""
    data = {"token": token, **form}
    if client is not None:
        headers = basic(client["id"], client["secret"])
    resp = await api.client.post("/revoke", data=data, headers=headers or {})
    assert resp.status == 200, await resp.text()
    assert await resp.read() == b""


async def me(api, headers) -> int:
    return (await api.client.get("/users/me", headers=headers)).status


async def test_a_revoked_jwt_is_refused_until_it_expires(api, alice, database_url):
    assert await me(api, bearer(alice["jwt"])) == 200  # cached now: revoking must drop it
    await revoke(api, alice["jwt"], alice["token"], token_type_hint="access_token")
    assert await me(api, bearer(alice["jwt"])) == 401
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT jti, extract(epoch FROM expires_at)::int AS exp "
                                  "FROM revoked_jwts")
    finally:
        await conn.close()
    claims = claims_of(alice["jwt"])
    assert (row["jti"], row["exp"]) == (claims["jti"], claims["exp"])
    # Other JWTs of the same client still work.
    assert await me(api, bearer(await api.client_credentials(alice["token"]))) == 200


async def test_a_client_revokes_its_own_api_key(api, alice):
    key = {"Authorization": alice["token"]["api_key"]}
    assert await me(api, key) == 200
    await revoke(api, alice["token"]["api_key"], alice["token"])
    assert await me(api, key) == 401
    resp = await api.client.get(f"/tokens/{alice['token']['id']}", headers=alice["headers"])
    assert (await resp.json())["is_valid"] is False


async def test_what_is_not_the_callers_stays_as_it_was(api, alice):
    await api.create_user("bob")
    bob = await api.bearer("bob")
    bob_token = await api.create_token(bob)
    bob_jwt = await api.client_credentials(bob_token)
    sibling = await api.create_token(alice["headers"], label="sibling")
    for other in (bob_jwt, bob_token["api_key"], bob["Authorization"][7:], sibling["api_key"]):
        await revoke(api, other, alice["token"])
    for headers in (bearer(bob_jwt), {"Authorization": bob_token["api_key"]}, bob,
                    {"Authorization": sibling["api_key"]}):
        assert await me(api, headers) == 200


async def test_a_client_may_end_the_jwts_of_its_own_user(api, alice):
    await revoke(api, alice["headers"]["Authorization"][7:], alice["token"])
    assert await me(api, alice["headers"]) == 401


async def test_an_admin_credential_revokes_anyones(api, alice):
    await api.create_user("root", ADMIN_PASSWORD, type_="admin")
    admin = await api.bearer("root", ADMIN_PASSWORD)
    await revoke(api, alice["jwt"], headers=admin)
    assert await me(api, bearer(alice["jwt"])) == 401
    await revoke(api, alice["token"]["api_key"], headers=admin)
    assert await me(api, {"Authorization": alice["token"]["api_key"]}) == 401


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "mrsm-key:AAAA", " ", "x" * 2000])
async def test_anything_well_formed_is_200_empty(api, alice, token):
    await revoke(api, token, alice["token"])
    await revoke(api, alice["jwt"], alice["token"])
    await revoke(api, alice["jwt"], alice["token"])  # twice: still 200


async def test_bad_client_credentials_are_401_and_revoke_nothing(api, alice):
    token = alice["token"]
    resp = await api.client.post("/revoke", data={"token": alice["jwt"]},
                                 headers=basic(token["id"], "wrong"))
    await assert_error(resp, 401, "invalid_client")
    resp = await api.client.post("/revoke", data={"token": alice["jwt"]})
    await assert_error(resp, 400, "invalid_request")  # no client authentication at all
    assert await me(api, bearer(alice["jwt"])) == 200


async def test_a_missing_token_is_400(api, alice):
    resp = await api.client.post("/revoke", data={}, headers=basic(alice["token"]["id"],
                                                                  alice["token"]["secret"]))
    await assert_error(resp, 400, "invalid_request")


async def test_the_deny_list_forgets_jwts_once_they_have_expired(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        now = int(time.time())
        user = "00000000-0000-4000-8000-000000000001"
        await denylist.revoke(conn, "expired", now - 5, user)
        await denylist.revoke(conn, "alive", now + 600, user)
        assert await denylist.clean(conn) == 1
        assert not await denylist.is_revoked(conn, "expired")
        assert await denylist.is_revoked(conn, "alive")
    finally:
        await conn.close()


async def test_a_jwt_revocation_is_audited_once(api, alice, admin_headers):
    await revoke(api, alice["jwt"], alice["token"])
    await revoke(api, alice["jwt"], alice["token"])  # denied already: nothing new to say
    resp = await api.client.get("/audit", params={"kind": "jwt.revoked"}, headers=admin_headers)
    assert resp.status == 200
    events = (await resp.json())["items"]
    assert len(events) == 1
    [event] = events
    claims = claims_of(alice["jwt"])
    token_id = alice["token"]["id"]
    assert event["actor_kind"] == "client_credentials"
    assert event["actor_token_id"] == token_id
    assert event["target_token_id"] == token_id
    assert event["target_user_id"] == claims["sub"]
    assert event["target_username"] is not None
    assert event["details"]["jti"] == claims["jti"]
    assert event["details"]["expires_at"].startswith(
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(claims["exp"])))
    # The owner sees it among their own events too.
    resp = await api.client.get("/audit", params={"kind": "jwt.revoked"},
                                headers=alice["headers"])
    assert [e["details"]["jti"] for e in (await resp.json())["items"]] == [claims["jti"]]
