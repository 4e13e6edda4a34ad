"""Guessing a password through PATCH /users/me.

A stolen device key must not change its owner's password, and a wrong `current_password`
is a failed password attempt like a wrong /login: counted in the same throttle, audited
as the same event, refused with 429 while /login would be.
"""

from __future__ import annotations

import json
import uuid

import pytest

from service.auth.apikeys import make_api_key, new_secret
from service.auth.passwords import PasswordHasher
from service.auth.principal import Principal
from service.errors import ApiError
from service.tokens.ops import OPERATOR
from service.users import ops
from tests.support.api import ADMIN_PASSWORD, USER_PASSWORD
from tests.support.assertions import assert_error, connect
from tests.support.throttling import LIMITS, from_ip, password_login

ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"
NEW_PASSWORD = "brand-new-password-1"  # noqa: S105 (a test fixture)


def change(current: str, new: str = NEW_PASSWORD) -> dict:
    return {"current_password": current, "new_password": new}


async def login_failures(api) -> list[dict]:
    async with connect(api.settings.database_url) as conn:
        rows = await conn.fetch(
            "SELECT kind, host(source) AS address, target_username, target_user_id, "
            "target_token_id, details FROM audit_events WHERE kind = 'login.failed' "
            "ORDER BY id")
    return [{**dict(r), "details": json.loads(r["details"])} for r in rows]


async def assert_password_is(api, username: str, password: str) -> None:
    """`password` logs in and NEW_PASSWORD does not (from an address nobody blocked)."""
    resp = await password_login(api, username, password, "192.0.2.250")
    assert resp.status == 200, await resp.text()
    if password != NEW_PASSWORD:
        resp = await password_login(api, username, NEW_PASSWORD, "192.0.2.251")
        await assert_error(resp, 400, "invalid_grant")


async def assert_needs_session(resp) -> None:
    body = await assert_error(resp, 403, "insufficient_scope")
    assert set(body) == {"error", "error_description"}, body
    assert "password grant" in body["error_description"], body
    assert 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]


# --- which credential may change a password ---------------------------------------------

async def test_an_api_key_cannot_change_the_password_even_with_the_right_one(api):
    await api.create_user("alice")
    alice = await api.bearer("alice")
    device = await api.create_token(alice, label="device", scopes=["read:pipes"])
    full = await api.create_token(alice, label="full")  # every scope alice holds
    for token in (device, full):
        key = {"Authorization": token["api_key"]}
        for guess in ("wrong-password", USER_PASSWORD):
            await assert_needs_session(
                await api.client.patch("/users/me", headers=key, json=change(guess)))
        # Refused before the body is read: not even a malformed body gets further.
        await assert_needs_session(await api.client.patch("/users/me", headers=key, json={}))
    assert await login_failures(api) == []  # no password was checked
    await assert_password_is(api, "alice", USER_PASSWORD)


async def test_a_client_credentials_jwt_cannot_change_the_password(api):
    await api.create_user("alice")
    alice = await api.bearer("alice")
    token = await api.create_token(alice, label="device")
    jwt = {"Authorization": f"Bearer {await api.client_credentials(token)}"}
    assert (await api.client.get("/users/me", headers=jwt)).status == 200
    for guess in ("wrong-password", USER_PASSWORD):
        await assert_needs_session(
            await api.client.patch("/users/me", headers=jwt, json=change(guess)))
    assert await login_failures(api) == []
    await assert_password_is(api, "alice", USER_PASSWORD)


async def test_an_admins_api_key_cannot_change_the_admins_password(api):
    admin = await api.admin_headers()
    key = {"Authorization": (await api.create_token(admin, label="ops"))["api_key"]}
    await assert_needs_session(
        await api.client.patch("/users/me", headers=key, json=change(ADMIN_PASSWORD)))
    await assert_password_is(api, "admin", ADMIN_PASSWORD)


async def test_a_password_session_still_changes_the_password(api):
    await api.create_user("alice")
    alice = await api.bearer("alice")
    resp = await api.client.patch("/users/me", headers=alice, json=change(USER_PASSWORD))
    assert resp.status == 200, await resp.text()
    await assert_password_is(api, "alice", NEW_PASSWORD)


async def test_the_rule_holds_in_ops_for_any_principal_but_a_password_session(settings):
    """Not only the route: ops refuses a token's principal (or the operator) itself."""
    hasher = PasswordHasher(settings)
    try:
        async with connect(settings.database_url) as conn:
            row = await ops.insert_user(conn, hasher, username="alice", password=USER_PASSWORD)
            for kind, token_id in (("api_key", uuid.uuid4()), ("jwt", uuid.uuid4()),
                                   ("client_credentials", uuid.uuid4()), ("operator", None)):
                actor = (OPERATOR if kind == "operator" else Principal(
                    user_id=row["id"], username="alice", user_type="user",
                    scopes=frozenset(), kind=kind, token_id=token_id))
                with pytest.raises(ApiError) as refused:
                    await ops.verify_own_password(conn, hasher, None, actor, USER_PASSWORD,
                                                  source="192.0.2.1")
                assert (refused.value.status, refused.value.code) == (403, "insufficient_scope")
                with pytest.raises(ApiError) as refused:
                    await ops.set_own_password(conn, actor, "not-a-hash", source="192.0.2.1")
                assert (refused.value.status, refused.value.code) == (403, "insufficient_scope")
            assert (await conn.fetchval("SELECT password_hash FROM users WHERE id = $1",
                                        row["id"])) == row["password_hash"]
    finally:
        hasher.close()


# --- the throttle and the audit trail ---------------------------------------------------

async def test_wrong_current_passwords_are_throttled_like_logins(tapi):
    await tapi.create_user("alice")
    alice = await tapi.bearer("alice")
    for _ in range(LIMITS.pair_failures):
        resp = await tapi.client.patch("/users/me", headers=from_ip(ATTACKER, alice),
                                       json=change("wrong-password"))
        await assert_error(resp, 403, "forbidden")
    # Budget spent: blocked before the password is checked, the right one included.
    for guess in ("wrong-password", USER_PASSWORD):
        resp = await tapi.client.patch("/users/me", headers=from_ip(ATTACKER, alice),
                                       json=change(guess))
        await assert_error(resp, 429, "too_many_requests")
        assert 1 <= int(resp.headers["Retry-After"]) <= LIMITS.penalty_seconds
    # The same counter as /login: that address may not log in as alice either.
    resp = await password_login(tapi, "alice", USER_PASSWORD, ATTACKER)
    await assert_error(resp, 429, "too_many_requests")
    await assert_password_is(tapi, "alice", USER_PASSWORD)
    # The owner, from an address that has not failed, is not locked out.
    resp = await tapi.client.patch("/users/me", headers=from_ip(OWNER, alice),
                                   json=change(USER_PASSWORD))
    assert resp.status == 200, await resp.text()
    await assert_password_is(tapi, "alice", NEW_PASSWORD)


async def test_failed_logins_block_the_password_change(tapi):
    await tapi.create_user("alice")
    alice = await tapi.bearer("alice")
    for _ in range(LIMITS.pair_failures - 1):
        await assert_error(await password_login(tapi, "alice", "wrong", ATTACKER), 400)
    # One more failure through PATCH /users/me completes the same budget.
    resp = await tapi.client.patch("/users/me", headers=from_ip(ATTACKER, alice),
                                   json=change("wrong-password"))
    await assert_error(resp, 403, "forbidden")
    resp = await password_login(tapi, "alice", USER_PASSWORD, ATTACKER)
    await assert_error(resp, 429, "too_many_requests")
    resp = await tapi.client.patch("/users/me", headers=from_ip(ATTACKER, alice),
                                   json=change(USER_PASSWORD))
    await assert_error(resp, 429, "too_many_requests")
    assert "Retry-After" in resp.headers
    await assert_password_is(tapi, "alice", USER_PASSWORD)


async def test_a_blocked_address_cannot_change_the_password_after_login_failures(tapi):
    await tapi.create_user("alice")
    alice = await tapi.bearer("alice")
    for _ in range(LIMITS.pair_failures):
        await assert_error(await password_login(tapi, "alice", "wrong", ATTACKER), 400)
    resp = await tapi.client.patch("/users/me", headers=from_ip(ATTACKER, alice),
                                   json=change(USER_PASSWORD))
    await assert_error(resp, 429, "too_many_requests")
    assert 1 <= int(resp.headers["Retry-After"]) <= LIMITS.penalty_seconds
    await assert_password_is(tapi, "alice", USER_PASSWORD)


async def test_a_wrong_current_password_is_audited_as_a_failed_login(tapi):
    user = await tapi.create_user("alice")
    alice = await tapi.bearer("alice")
    for _ in range(LIMITS.pair_failures):
        await tapi.client.patch("/users/me", headers=from_ip(ATTACKER, alice),
                                json=change("wrong-password"))
    failures = await login_failures(tapi)
    assert len(failures) == LIMITS.pair_failures
    for event in failures:
        assert event["address"] == ATTACKER
        assert (event["target_username"], event["target_user_id"]) == ("alice", user["id"])
        assert event["target_token_id"] is None
        assert event["details"] == {"grant_type": "password",
                                    "reason": "wrong_current_password"}
    # The block it started is in the trail, as a /login block would be.
    async with connect(tapi.settings.database_url) as conn:
        throttled = await conn.fetch(
            "SELECT details FROM audit_events WHERE kind = 'auth.throttled' "
            "AND target_username = 'alice'")
    assert throttled, "the block started by wrong current passwords was not audited"
    # Blocked attempts are not checked, so they add no failure.
    await tapi.client.patch("/users/me", headers=from_ip(ATTACKER, alice),
                            json=change("wrong-password"))
    assert len(await login_failures(tapi)) == LIMITS.pair_failures
    text = json.dumps([f["details"] for f in failures])
    assert "wrong-password" not in text


# --- a refused API key is recorded like a failed login ---------------------------------

async def test_a_wrong_api_key_secret_is_audited_and_counted_like_a_failed_login(tapi, tadmin):
    token = await tapi.create_token(tadmin, label="device")
    forged = make_api_key(token["id"], new_secret())  # its client ID, another secret
    for _ in range(LIMITS.pair_failures):
        resp = await tapi.client.get("/users/me", headers=from_ip(ATTACKER,
                                                                  {"Authorization": forged}))
        await assert_error(resp, 401, "invalid_token")
    failures = await login_failures(tapi)
    assert len(failures) == LIMITS.pair_failures
    for event in failures:
        assert event["address"] == ATTACKER
        assert event["target_token_id"] == uuid.UUID(token["id"])
        assert event["target_username"] == "admin"  # the token's owner sees it
        assert event["details"] == {"grant_type": "api_key", "reason": "wrong_secret"}
    # The same budget as /login: this client ID is now blocked from that address.
    resp = await tapi.client.get("/users/me", headers=from_ip(ATTACKER, {"Authorization": forged}))
    await assert_error(resp, 429, "too_many_requests")
    assert int(resp.headers["Retry-After"]) > 0
    assert len(await login_failures(tapi)) == LIMITS.pair_failures  # blocked: not checked


async def test_other_refused_credentials_are_audited_but_not_bad_jwts(api, admin_headers):
    for header in ("Basic dXNlcjpwYXNz", "mrsm-key:not-base64!", "Bearer not.a.jwt"):
        resp = await api.client.get("/users/me", headers={"Authorization": header})
        await assert_error(resp, 401, "invalid_token")
    failures = await login_failures(api)
    # A JWT cannot be guessed and an expired one is every client's once: not a failure.
    assert [(f["details"]["grant_type"], f["target_token_id"]) for f in failures] == [
        ("unsupported", None), ("api_key", None)]
    assert all(f["details"]["reason"] == "wrong_secret" for f in failures)
