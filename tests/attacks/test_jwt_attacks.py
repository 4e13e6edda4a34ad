"""Forged, altered, stale and orphaned JWTs: every one is a 401 invalid_token."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.support.api import ADMIN_PASSWORD
from tests.support.attacks import JWT_KEY, JWT_KID, b64, forge_hs256

OURS = {"kid": JWT_KID, "typ": "at+jwt"}  # the header the service writes under HS256


async def me_status(client, token: str) -> tuple[int, dict]:
    resp = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    return resp.status, await resp.json()


@pytest.fixture
async def alice(api, settings) -> dict:
    """alice's user row and a set of valid claims for her (a password grant)."""
    user = await api.create_user("alice")
    now = int(time.time())
    claims = {"iss": settings.issuer, "aud": settings.audience, "sub": str(user["id"]),
              "iat": now, "exp": now + 600,
              "jti": "j1", "scope": "read:tokens", "pwv": user["password_version"]}
    return {"user": user, "claims": claims}


async def assert_refused(client, token: str) -> None:
    status, body = await me_status(client, token)
    assert status == 401, body
    assert body["error"] == "invalid_token"


async def test_a_correctly_signed_forgery_is_accepted_so_the_others_test_something(client,
                                                                                   alice):
    token = forge_hs256(alice["claims"])
    status, body = await me_status(client, token)
    assert status == 200 and body["username"] == "alice"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_is_refused(client, alice, alg):
    unsigned = f"{b64({'alg': alg, **OURS})}.{b64(alice['claims'])}."
    await assert_refused(client, unsigned)
    # ... also with a signature part that is not empty
    await assert_refused(client, unsigned + "c2lnbmF0dXJl")


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
async def test_switching_to_another_hmac_algorithm_is_refused(client, alice, alg):
    """Same key, other algorithm: accepted only if the algorithm were not pinned."""
    await assert_refused(client, forge_hs256(alice["claims"], algorithm=alg))


async def test_an_rs256_header_over_an_hmac_signature_is_refused(client, alice):
    """Key confusion: the header claims RS256, the bytes are HMAC'ed with our key."""
    good = forge_hs256(alice["claims"])
    _, payload, signature = good.split(".")
    await assert_refused(client, f"{b64({'alg': 'RS256', **OURS})}.{payload}.{signature}")


async def test_a_tampered_signature_or_payload_is_refused(client, alice):
    good = forge_hs256(alice["claims"])
    header, payload, signature = good.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    await assert_refused(client, f"{header}.{payload}.{flipped}")
    wider = {**alice["claims"], "scope": "read:tokens write:users read:users"}
    await assert_refused(client, f"{header}.{b64(wider)}.{signature}")
    await assert_refused(client, forge_hs256(alice["claims"], "some-other-key-" + "x" * 32))


@pytest.mark.parametrize("change", [
    {"exp": -10},  # expired ten seconds ago
    {"nbf": 3600},  # not valid for another hour
    {"iat": 3600, "exp": 7200},  # issued in the future
])
async def test_expired_and_not_yet_valid_jwts_are_refused(client, alice, change):
    now = int(time.time())
    claims = {**alice["claims"], **{k: now + v for k, v in change.items()}}
    await assert_refused(client, forge_hs256(claims))


@pytest.mark.parametrize("claims_change", [
    {"iss": "someone-else"},
    {"aud": "another-service"},
    {"aud": ["another-service"]},
    {"sub": "not-a-uuid"},
    {"pwv": 2},  # a password version alice does not have (the password was changed)
    {"tid": "00000000-0000-4000-8000-000000000000"},  # both grants at once
])
async def test_claims_we_did_not_issue_are_refused(client, alice, claims_change):
    claims = {**alice["claims"], **claims_change}
    await assert_refused(client, forge_hs256(claims))


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "iss", "aud", "scope", "jti"])
async def test_a_jwt_without_a_required_claim_is_refused(client, alice, missing):
    claims = {k: v for k, v in alice["claims"].items() if k != missing}
    await assert_refused(client, forge_hs256(claims))


async def test_a_jwt_dies_with_its_invalidated_token(client, api, admin_headers):
    token = await api.create_token(admin_headers, label="to-invalidate")
    bearer = await api.client_credentials(token)
    assert (await me_status(client, bearer))[0] == 200
    resp = await client.post(f"/tokens/{token['id']}/invalidate", headers=admin_headers)
    assert resp.status == 200
    await assert_refused(client, bearer)


async def test_a_jwt_dies_with_its_deleted_token(client, api, admin_headers):
    token = await api.create_token(admin_headers, label="to-delete")
    bearer = await api.client_credentials(token)
    assert (await me_status(client, bearer))[0] == 200
    assert (await client.delete(f"/tokens/{token['id']}", headers=admin_headers)).status == 204
    await assert_refused(client, bearer)


async def test_a_jwt_dies_with_its_deleted_user(client, api, admin_headers):
    await api.create_user("mallory")
    password_bearer = await api.login("mallory", "user-password-1")
    mallory = {"Authorization": f"Bearer {password_bearer}"}
    token = await api.create_token(mallory, label="orphan")
    token_bearer = await api.client_credentials(token)
    assert (await client.delete("/users/mallory", headers=admin_headers)).status == 204
    await assert_refused(client, password_bearer)
    await assert_refused(client, token_bearer)
    resp = await client.get("/users/me", headers={"Authorization": token["api_key"]})
    assert resp.status == 401


async def test_a_password_jwt_dies_when_the_password_changes(client, api):
    await api.create_user("carol")
    old = await api.login("carol", "user-password-1")
    resp = await client.patch("/users/me", json={"current_password": "user-password-1",
                                                 "new_password": "a-new-password-2"},
                              headers={"Authorization": f"Bearer {old}"})
    assert resp.status == 200
    await assert_refused(client, old)


async def test_the_admin_fixture_bearer_is_not_a_forgery(client, api, settings):
    """The real /login signs with the key the forgeries use: they are refused for cause."""
    await api.create_user("admin", ADMIN_PASSWORD, type_="admin")
    token = await api.login("admin", ADMIN_PASSWORD)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", **OURS}
    assert jwt.decode(token, JWT_KEY, algorithms=["HS256"], issuer=settings.issuer,
                      audience=settings.audience)["sub"]


@pytest.mark.parametrize("header", [
    {"kid": "hs256-unknown"},  # a key we never had
    {"kid": None},  # no kid at all
    {"typ": "JWT"},  # not an access token (RFC 9068: typ at+jwt)
    {"typ": None},
])
async def test_a_header_without_our_kid_or_typ_is_refused(client, alice, header):
    await assert_refused(client, forge_hs256(alice["claims"], **header))
