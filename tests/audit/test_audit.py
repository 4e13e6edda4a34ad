"""The audit trail: what is recorded, that it is append-only, and who may read it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.support.api import ADMIN_PASSWORD, USER_PASSWORD
from tests.support.assertions import assert_error, connect
from tests.support.throttling import from_ip, password_login


async def events(api, headers, **query) -> dict:
    resp = await api.client.get("/audit", headers=headers, params=query)
    body = await resp.json()
    assert resp.status == 200, body
    return body


def kinds(body: dict) -> list[str]:
    return [e["kind"] for e in body["items"]]


async def test_token_lifecycle_is_audited_with_actor_target_and_source(tapi, tadmin):
    await tapi.create_user("alice")
    alice = await tapi.bearer("alice")
    token = await tapi.create_token(alice, label="device", rate_limit=10)
    url = f"/tokens/{token['id']}"
    assert (await tapi.client.patch(url, headers=from_ip("192.0.2.5", alice),
                                    json={"label": "sensor"})).status == 200
    assert (await tapi.client.post(url + "/invalidate", headers=alice)).status == 200
    assert (await tapi.client.delete(url, headers=tadmin)).status == 204
    body = await events(tapi, tadmin, token=token["id"])
    assert kinds(body) == ["token.deleted", "token.invalidated", "token.edited",
                           "token.registered"]
    deleted, invalidated, edited, registered = body["items"]
    assert registered["actor_username"] == "alice" and registered["actor_kind"] == "jwt"
    assert registered["target_token_id"] == token["id"]
    assert registered["target_username"] == "alice"
    assert registered["details"]["label"] == "device"
    assert registered["details"]["rate_limit"] == 10
    assert registered["source"] == "127.0.0.1"
    assert edited["source"] == "192.0.2.5"
    assert edited["details"]["changes"] == {"label": "sensor"}
    assert deleted["actor_username"] == "admin" and deleted["target_username"] == "alice"
    # Never the secret or the API key.
    text = json.dumps(body)
    assert token["secret"] not in text and token["api_key"] not in text


async def test_user_changes_are_audited_without_passwords(tapi, tadmin):
    resp = await tapi.client.post("/users", headers=tadmin, json={
        "username": "bob", "password": "bob-password-1"})
    assert resp.status == 201
    resp = await tapi.client.patch("/users/bob", headers=tadmin, json={
        "password": "bob-password-2", "scopes": ["read:pipes"]})
    assert resp.status == 200
    bob = await tapi.bearer("bob", "bob-password-2")
    resp = await tapi.client.patch("/users/me", headers=bob, json={
        "current_password": "bob-password-2", "new_password": "bob-password-3"})
    assert resp.status == 200
    assert (await tapi.client.delete("/users/bob", headers=tadmin)).status == 204
    body = await events(tapi, tadmin, user="bob")
    user_events = [e for e in body["items"] if e["kind"].startswith("user.")]
    assert [e["kind"] for e in user_events] == ["user.deleted", "user.changed", "user.changed",
                                                "user.created"]
    deleted, by_self, by_admin, created = user_events
    assert created["details"] == {"type": "user", "scopes": created["details"]["scopes"]}
    assert by_admin["details"] == {"password": "changed", "scopes": ["read:pipes"]}
    assert by_self["actor_username"] == "bob" and by_self["details"] == {"password": "changed"}
    assert deleted["actor_username"] == "admin" and deleted["target_username"] == "bob"
    text = json.dumps(body)
    assert "bob-password" not in text and "argon2" not in text


async def test_logins_are_audited_and_unknown_usernames_are_not_kept(tapi, tadmin):
    await tapi.create_user("alice")
    assert (await password_login(tapi, "alice", USER_PASSWORD, "192.0.2.9")).status == 200
    assert (await password_login(tapi, "alice", "wrong-password", "192.0.2.9")).status == 400
    resp = await password_login(tapi, "hunter2-typed-as-username", "x", "192.0.2.9")
    assert resp.status == 400
    body = await events(tapi, tadmin, kind="login.failed")
    assert body["total"] == 2
    unknown, wrong = body["items"]
    assert wrong["target_username"] == "alice" and wrong["source"] == "192.0.2.9"
    assert wrong["details"] == {"grant_type": "password", "reason": "wrong_password"}
    assert unknown["target_username"] is None and unknown["target_user_id"] is None
    assert unknown["details"]["reason"] == "unknown_user"
    assert "hunter2" not in json.dumps(body) and "wrong-password" not in json.dumps(body)
    ok = await events(tapi, tadmin, kind="login.succeeded", user="alice")
    assert ok["total"] == 1
    assert ok["items"][0]["actor_kind"] == "password"
    assert ok["items"][0]["source"] == "192.0.2.9"


async def test_client_credentials_logins_are_audited_for_the_owner(tapi):
    await tapi.create_user("alice")
    alice = await tapi.bearer("alice")
    token = await tapi.create_token(alice, label="device")
    await tapi.client_credentials(token)
    resp = await tapi.client.post("/login", data={"grant_type": "client_credentials",
                                                  "client_id": token["id"],
                                                  "client_secret": "wrong"})
    assert resp.status == 401
    body = await events(tapi, alice, token=token["id"])
    assert kinds(body) == ["login.failed", "login.succeeded", "token.registered"]
    failed, succeeded, _ = body["items"]
    assert failed["target_username"] == "alice"  # so the owner sees attempts on their token
    assert succeeded["actor_token_id"] == token["id"]
    assert succeeded["actor_kind"] == "client_credentials"


async def test_a_throttle_is_audited_once_when_it_starts(tapi, tadmin, limits):
    await tapi.create_user("alice")
    for _ in range(limits.pair_failures + 3):
        await password_login(tapi, "alice", "wrong", "203.0.113.1")
    body = await events(tapi, tadmin, kind="auth.throttled")
    assert body["total"] == 1
    event = body["items"][0]
    assert event["details"]["rule"] == "user_source"
    assert event["source"] == "203.0.113.1" and event["target_username"] == "alice"
    # Refused attempts are not login failures (only the verified ones are).
    failed = await events(tapi, tadmin, kind="login.failed")
    assert failed["total"] == limits.pair_failures


async def test_api_key_requests_are_not_audited(tapi, tadmin):
    token = await tapi.create_token(tadmin, label="t")
    before = (await events(tapi, tadmin))["total"]
    for _ in range(20):
        resp = await tapi.client.get("/users/me", headers={"Authorization": token["api_key"]})
        assert resp.status == 200
    assert (await events(tapi, tadmin))["total"] == before


async def test_a_refused_change_leaves_no_event(tapi, tadmin):
    await tapi.create_token(tadmin, label="same")
    resp = await tapi.client.post("/tokens", headers=tadmin, json={"label": "same"})
    await assert_error(resp, 409, "conflict")
    body = await events(tapi, tadmin, kind="token.registered")
    assert body["total"] == 1


async def test_append_only_update_and_delete_fail(tapi, tadmin, database_url):
    await tapi.create_token(tadmin, label="t")
    async with connect(database_url) as conn:
        for sql in ("UPDATE audit_events SET kind = 'user.deleted'",
                    "DELETE FROM audit_events",
                    "UPDATE audit_events SET details = '{}' WHERE false"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(sql)
        assert await conn.fetchval("SELECT count(*) FROM audit_events") >= 1


async def test_filters_and_paging(tapi, tadmin):
    for i in range(5):
        await tapi.create_token(tadmin, label=f"t{i}")
    body = await events(tapi, tadmin, kind="token.registered", limit=2, offset=1)
    assert body["total"] == 5 and body["limit"] == 2 and body["offset"] == 1
    assert [e["details"]["label"] for e in body["items"]] == ["t3", "t2"]
    now = datetime.now(UTC)
    future = (now + timedelta(hours=1)).isoformat()
    past = (now - timedelta(hours=1)).isoformat()
    assert (await events(tapi, tadmin, since=future))["total"] == 0
    assert (await events(tapi, tadmin, until=past))["total"] == 0
    assert (await events(tapi, tadmin, since=past, until=future,
                         kind="token.registered"))["total"] == 5
    assert (await events(tapi, tadmin, user="nobody"))["total"] == 0
    body = await events(tapi, tadmin, user="ADMIN", kind="token.registered")
    assert body["total"] == 5


@pytest.mark.parametrize("query", [
    {"kind": "token.stolen"},
    {"token": "not-a-uuid"},
    {"user": "no spaces allowed"},
    {"since": "yesterday"},
    {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    {"limit": "0"},
    {"limit": "1001"},
    {"offset": "-1"},
    {"colour": "blue"},
])
async def test_bad_filters_are_422(tapi, tadmin, query):
    resp = await tapi.client.get("/audit", headers=tadmin, params=query)
    await assert_error(resp, 422, "validation_error")


async def test_a_user_sees_only_their_own_events(tapi, tadmin):
    await tapi.create_user("alice")
    await tapi.create_user("bob")
    alice, bob = await tapi.bearer("alice"), await tapi.bearer("bob")
    await tapi.create_token(alice, label="a")
    await tapi.create_token(bob, label="b")
    await tapi.create_token(tadmin, label="admin-own")
    body = await events(tapi, alice)
    assert body["total"] == len(body["items"]) >= 2
    for event in body["items"]:
        assert "alice" in (event["actor_username"], event["target_username"]), event
    assert (await events(tapi, alice, user="alice"))["total"] == body["total"]
    resp = await tapi.client.get("/audit", headers=alice, params={"user": "bob"})
    await assert_error(resp, 403, "forbidden")
    everything = await events(tapi, tadmin)
    assert {"alice", "bob", "admin"} <= {e["target_username"] for e in everything["items"]}


async def test_an_admin_token_without_read_users_sees_only_its_owner_events(tapi, tadmin):
    await tapi.create_user("alice")
    await tapi.create_token(await tapi.bearer("alice"), label="a")
    narrow = await tapi.create_token(tadmin, label="narrow", scopes=["read:tokens"])
    body = await events(tapi, {"Authorization": narrow["api_key"]})
    assert body["total"] >= 1
    assert all("alice" not in (e["actor_username"], e["target_username"])
               for e in body["items"])


async def test_audit_needs_a_credential_with_read_tokens(tapi, tadmin):
    await assert_error(await tapi.client.get("/audit"), 401, "unauthorized")
    pipes_only = await tapi.create_token(tadmin, label="p", scopes=["read:pipes"])
    resp = await tapi.client.get("/audit", headers={"Authorization": pipes_only["api_key"]})
    await assert_error(resp, 403, "insufficient_scope")


async def test_audit_is_in_the_openapi_document(tapi):
    doc = await (await tapi.client.get("/openapi.json")).json()
    assert "/audit" in doc["paths"]
    params = {p["name"] for p in doc["paths"]["/audit"]["get"].get("parameters", [])}
    assert {"user", "token", "kind", "since", "until", "limit", "offset"} <= params


async def test_password_login_success_reaches_the_table_without_audit_read(tapi, database_url):
    # The buffer is flushed within a second by itself, not only by GET /audit.
    import asyncio

    await tapi.create_user("alice", USER_PASSWORD)
    await tapi.login("alice", USER_PASSWORD)
    for _ in range(30):
        async with connect(database_url) as conn:
            n = await conn.fetchval(
                "SELECT count(*) FROM audit_events WHERE kind = 'login.succeeded'")
        if n:
            break
        await asyncio.sleep(0.1)
    assert n == 1
    assert ADMIN_PASSWORD  # (fixtures' password constants are never stored either)
