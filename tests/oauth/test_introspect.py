"""POST /introspect (RFC 7662): who may ask, what an active credential shows, and the one
answer `{"active": false}` for everything else."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from service import keys
from tests.support.api import ADMIN_PASSWORD
from tests.support.assertions import assert_error, basic, bearer, claims_of, parse_time

INACTIVE = {"active": False}


@pytest.fixture
async def alice(api, user_headers) -> dict:
    """alice's token (a client) and a client-credentials JWT of it."""
    token = await api.create_token(user_headers, label="client",
                                   scopes=["read:pipes", "read:tokens"])
    return {"token": token, "jwt": await api.client_credentials(token),
            "headers": user_headers}


async def introspect(api, token: str, *, as_client: dict | None = None,
                     headers: dict | None = None, **form) -> tuple[int, dict]:
    data = {"token": token, **form}
    if as_client is not None and headers is None:
        data.update(client_id=as_client["id"], client_secret=as_client["secret"])
    resp = await api.client.post("/introspect", data=data, headers=headers or {})
    if resp.status == 200:
        assert resp.headers["Cache-Control"] == "no-store"
    return resp.status, await resp.json()


async def test_a_client_sees_its_own_jwt_with_every_claim(api, alice, settings):
    token = alice["token"]
    status, body = await introspect(api, alice["jwt"], headers=basic(token["id"],
                                                                     token["secret"]))
    assert status == 200
    claims = claims_of(alice["jwt"])
    assert body == {"active": True, "scope": "read:pipes read:tokens", "client_id": token["id"],
                    "sub": claims["sub"], "username": "alice", "token_type": "bearer",
                    "exp": claims["exp"], "iat": claims["iat"], "iss": settings.issuer,
                    "aud": settings.audience, "jti": claims["jti"]}


async def test_a_client_sees_its_own_api_key_in_the_body_form(api, alice, settings):
    token = alice["token"]
    status, body = await introspect(api, token["api_key"], as_client=token,
                                    token_type_hint="api_key")
    assert status == 200
    assert body["active"] is True and body["token_type"] == "api_key"
    assert body["client_id"] == token["id"] and body["username"] == "alice"
    assert "jti" not in body and "aud" not in body
    assert body["exp"] == int(parse_time(token["expiration"]).timestamp())


async def test_a_password_jwt_has_no_client_id(api, alice, admin_headers):
    status, body = await introspect(api, alice["headers"]["Authorization"][7:],
                                    headers=admin_headers)
    assert status == 200 and body["active"] is True and "client_id" not in body
    assert body["username"] == "alice" and body["token_type"] == "bearer"


async def test_credentials_of_another_user_are_not_the_clients_business(api, alice):
    await api.create_user("bob")
    bob = await api.bearer("bob")
    bob_token = await api.create_token(bob)
    for other in (bob["Authorization"][7:], bob_token["api_key"],
                  await api.client_credentials(bob_token)):
        assert await introspect(api, other, as_client=alice["token"]) == (200, INACTIVE)


async def test_another_credential_of_the_same_user_is_shown(api, alice):
    sibling = await api.create_token(alice["headers"], label="sibling")
    status, body = await introspect(api, sibling["api_key"], as_client=alice["token"])
    assert status == 200 and body["active"] is True and body["client_id"] == sibling["id"]


async def test_an_admin_credential_introspects_anyone(api, alice):
    await api.create_user("root", ADMIN_PASSWORD, type_="admin")
    admin = await api.bearer("root", ADMIN_PASSWORD)
    admin_key = await api.create_token(admin)
    for headers in (admin, {"Authorization": admin_key["api_key"]},
                    basic(admin_key["id"], admin_key["secret"])):
        status, body = await introspect(api, alice["jwt"], headers=headers)
        assert status == 200 and body["active"] is True and body["username"] == "alice"


async def test_what_is_not_active_is_only_active_false(api, alice, admin_headers):
    token = alice["token"]
    invalidated = await api.create_token(alice["headers"], label="gone")
    jwt_of_invalidated = await api.client_credentials(invalidated)
    resp = await api.client.post(f"/tokens/{invalidated['id']}/invalidate",
                                 headers=alice["headers"])
    assert resp.status == 200
    header, payload, signature = alice["jwt"].split(".")
    for dead in ("garbage", "a.b.c", invalidated["api_key"], jwt_of_invalidated,
                 f"{header}.{payload}.{signature[:-4]}AAAA", "mrsm-key:AAAA", " ",
                 token["api_key"][:-3] + "abc"):
        assert await introspect(api, dead, headers=admin_headers) == (200, INACTIVE), dead


async def test_a_user_credential_in_authorization_is_not_a_client(api, alice):
    for headers in (alice["headers"], {"Authorization": alice["token"]["api_key"]},
                    {"Authorization": "Bearer not-a-jwt"}):
        resp = await api.client.post("/introspect", data={"token": alice["jwt"]},
                                     headers=headers)
        await assert_error(resp, 401, "invalid_client")


async def test_bad_client_credentials_are_401_invalid_client(api, alice):
    token = alice["token"]
    resp = await api.client.post("/introspect", data={"token": alice["jwt"]},
                                 headers=basic(token["id"], "wrong-" + token["secret"]))
    await assert_error(resp, 401, "invalid_client")
    assert resp.headers["WWW-Authenticate"].startswith("Basic")
    resp = await api.client.post("/introspect", data={
        "token": alice["jwt"], "client_id": "not-a-uuid", "client_secret": "x"})
    await assert_error(resp, 401, "invalid_client")


@pytest.mark.parametrize("data", [
    {}, {"token": ""}, {"token": ["a", "b"]}, {"token": "x", "token_type_hint": "refresh"},
])
async def test_malformed_requests_are_400_invalid_request(api, alice, data):
    resp = await api.client.post("/introspect", data=data,
                                 headers=basic(alice["token"]["id"], alice["token"]["secret"]))
    await assert_error(resp, 400, "invalid_request")


async def test_a_json_body_is_400(api, alice):
    resp = await api.client.post("/introspect", json={"token": alice["jwt"]},
                                 headers=basic(alice["token"]["id"], alice["token"]["secret"]))
    await assert_error(resp, 400, "invalid_request")


async def test_introspecting_a_jwt_in_use_is_a_cache_hit(api, alice, admin_headers):
    for headers in (bearer(alice["jwt"]), admin_headers):
        assert (await api.client.get("/users/me", headers=headers)).status == 200
    cache = api.client.app[keys.AUTHN].cache
    hits = cache.hits
    status, body = await introspect(api, alice["jwt"], headers=admin_headers)
    assert status == 200 and body["active"] is True
    assert cache.hits >= hits + 2  # the admin's bearer and the introspected JWT


async def test_wrong_client_secrets_are_audited_and_throttled_as_at_login(tapi, database_url):
    await tapi.create_user("carol")
    token = await tapi.create_token(await tapi.bearer("carol"))
    wrong = basic(token["id"], token["secret"][:-1] + ("A" if token["secret"][-1] != "A"
                                                        else "B"))
    statuses = []
    for _ in range(4):
        resp = await tapi.client.post("/introspect", data={"token": "x"}, headers=wrong)
        statuses.append(resp.status)
    assert statuses[:3] == [401, 401, 401] and statuses[3] == 429
    body = await assert_error(resp, 429)
    assert "Retry-After" in resp.headers and body["error"]
    conn = await asyncpg.connect(database_url)
    try:
        events = await conn.fetch("SELECT details FROM audit_events WHERE kind = 'login.failed' "
                                  "AND target_token_id = $1", uuid.UUID(token["id"]))
    finally:
        await conn.close()
    assert len(events) == 3
    assert all(json.loads(e["details"])["grant_type"] == "introspection" for e in events)
