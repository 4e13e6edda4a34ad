"""Reaching past one's own rights: other people's tokens (404) and wider scopes (403/400)."""

from __future__ import annotations

import pytest


@pytest.fixture
async def bobs_token(api) -> dict:
    await api.create_user("bob")
    return await api.create_token(await api.bearer("bob"), label="bobs")


async def test_a_user_cannot_see_or_touch_another_users_token(client, api, user_headers,
                                                             bobs_token):
    path = f"/tokens/{bobs_token['id']}"
    answers = [
        await client.get(path, headers=user_headers),
        await client.patch(path, json={"label": "stolen"}, headers=user_headers),
        await client.post(f"{path}/invalidate", headers=user_headers),
        await client.delete(path, headers=user_headers),
    ]
    for resp in answers:
        assert resp.status == 404
        assert (await resp.json())["error"] == "not_found"
    # Exactly the answer for a token that does not exist: nothing learned.
    missing = await client.get("/tokens/00000000-0000-4000-8000-000000000000",
                               headers=user_headers)
    assert await missing.json() == await answers[0].json()
    listing = await (await client.get("/tokens", headers=user_headers)).json()
    assert bobs_token["id"] not in {t["id"] for t in listing["items"]}
    # bob's token is untouched and still works.
    resp = await client.get("/users/me", headers={"Authorization": bobs_token["api_key"]})
    assert resp.status == 200
    bob = await api.bearer("bob")
    token = await (await client.get(f"/tokens/{bobs_token['id']}", headers=bob)).json()
    assert token["label"] == "bobs" and token["is_valid"] is True


async def test_another_users_api_key_cannot_be_used_through_client_credentials_mixups(
        client, api, user_headers, bobs_token):
    """alice's client ID with bob's secret (and the reverse) is refused."""
    alices = await api.create_token(user_headers, label="alices")
    for client_id, secret in ((alices["id"], bobs_token["secret"]),
                              (bobs_token["id"], alices["secret"])):
        resp = await client.post("/login", data={"grant_type": "client_credentials",
                                                 "client_id": client_id,
                                                 "client_secret": secret})
        assert resp.status == 401


async def test_scope_escalation_at_creation(client, api, user_headers):
    resp = await client.post("/tokens", json={"scopes": ["read:users"]}, headers=user_headers)
    assert resp.status == 403
    narrow = await api.create_token(user_headers, scopes=["read:tokens", "write:tokens"])
    key = {"Authorization": narrow["api_key"]}
    resp = await client.post("/tokens", json={"scopes": ["read:pipes"]}, headers=key)
    assert resp.status == 403
    # Omitting scopes gives what both the owner and the caller hold, no more.
    resp = await client.post("/tokens", json={}, headers=key)
    assert resp.status == 201
    assert sorted((await resp.json())["scopes"]) == ["read:tokens", "write:tokens"]


async def test_scope_escalation_at_edit(client, api, user_headers):
    token = await api.create_token(user_headers, scopes=["read:tokens", "write:tokens"])
    path = f"/tokens/{token['id']}"
    resp = await client.patch(path, json={"scopes": ["read:users", "write:users"]},
                              headers=user_headers)
    assert resp.status == 403
    key = {"Authorization": token["api_key"]}
    resp = await client.patch(path, json={"scopes": ["read:tokens", "write:tokens",
                                                     "delete:pipes"]}, headers=key)
    assert resp.status == 403
    resp = await client.get(path, headers=user_headers)
    assert sorted((await resp.json())["scopes"]) == ["read:tokens", "write:tokens"]


async def test_scope_escalation_at_login(client, api, user_headers):
    for scope in ("read:users", "read:tokens write:users", "admin", "*"):
        resp = await client.post("/login", data={"grant_type": "password", "username": "alice",
                                                 "password": "user-password-1",
                                                 "scope": scope})
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_scope"
    token = await api.create_token(user_headers, scopes=["read:tokens"])
    resp = await client.post("/login", data={"grant_type": "client_credentials",
                                             "client_id": token["id"],
                                             "client_secret": token["secret"],
                                             "scope": "read:tokens write:tokens"})
    assert resp.status == 400
    assert (await resp.json())["error"] == "invalid_scope"


async def test_a_narrowed_jwt_stays_narrow(client, api, user_headers):
    bearer = await api.login("alice", "user-password-1", scope="read:tokens")
    headers = {"Authorization": f"Bearer {bearer}"}
    assert (await client.get("/tokens", headers=headers)).status == 200
    resp = await client.post("/tokens", json={}, headers=headers)
    assert resp.status == 403
    assert (await resp.json())["error"] == "insufficient_scope"


async def test_a_user_cannot_reach_admin_routes(client, user_headers):
    for method, path, body in (("GET", "/users", None), ("POST", "/users",
                                                         {"username": "x", "password": "y" * 8}),
                               ("PATCH", "/users/alice", {"type": "admin"}),
                               ("DELETE", "/users/alice", None), ("GET", "/metrics", None)):
        resp = await client.request(method, path, json=body, headers=user_headers)
        assert resp.status == 403, (method, path)
    me = await (await client.get("/users/me", headers=user_headers)).json()
    assert me["type"] == "user"
