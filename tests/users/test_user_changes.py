"""Users over time: password changes, admin changes, deletion, and what each ends."""

from __future__ import annotations

import uuid

from service.auth.scopes import ALL_SCOPES, order
from tests.support.api import ADMIN_PASSWORD, USER_PASSWORD
from tests.support.assertions import (
    assert_error,
    bearer,
    claims_of,
    connect,
)

PASSWORD = "long-enough-1"


async def post_user(api, headers, **body):
    return await api.client.post("/users", json=body, headers=headers)


async def test_patch_me_changes_password(api, user_headers):
    resp = await api.client.patch("/users/me", headers=user_headers,
                                  json={"current_password": USER_PASSWORD,
                                        "new_password": "brand-new-pass"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["username"] == "alice"
    await api.login("alice", "brand-new-pass")
    resp = await api.client.post("/login", data={"grant_type": "password", "username": "alice",
                                                 "password": USER_PASSWORD})
    await assert_error(resp, 400, "invalid_grant")


async def test_patch_me_errors(api, user_headers):
    resp = await api.client.patch("/users/me", headers=user_headers,
                                  json={"current_password": "wrong-password",
                                        "new_password": "brand-new-pass"})
    await assert_error(resp, 403, "forbidden")
    await api.login("alice", USER_PASSWORD)  # unchanged
    for body in ({"current_password": USER_PASSWORD, "new_password": "short"},
                 {"current_password": USER_PASSWORD},
                 {"new_password": "brand-new-pass"},
                 {"current_password": USER_PASSWORD, "new_password": "brand-new-pass",
                  "type": "admin"}):
        await assert_error(await api.client.patch("/users/me", headers=user_headers, json=body),
                           422, "validation_error")
    await assert_error(await api.client.patch("/users/me", json={}), 401)


async def _credentials_of_alice(api, user_headers):
    token = await api.create_token(user_headers, label="kept")
    return {
        "password_jwt": user_headers,
        "api_key": {"Authorization": token["api_key"]},
        "token_jwt": bearer(await api.client_credentials(token)),
    }


async def _status(api, headers) -> int:
    return (await api.client.get("/users/me", headers=headers)).status


async def test_password_change_via_me_ends_password_jwts_only(api, user_headers):
    creds = await _credentials_of_alice(api, user_headers)
    other_password_jwt = await api.bearer("alice")
    resp = await api.client.patch("/users/me", headers=user_headers,
                                  json={"current_password": USER_PASSWORD,
                                        "new_password": "brand-new-pass"})
    assert resp.status == 200
    await assert_error(await api.client.get("/users/me", headers=creds["password_jwt"]), 401,
                       "invalid_token")
    assert await _status(api, other_password_jwt) == 401
    assert await _status(api, creds["api_key"]) == 200
    assert await _status(api, creds["token_jwt"]) == 200
    assert await _status(api, await api.bearer("alice", "brand-new-pass")) == 200


async def test_password_change_by_admin_ends_password_jwts_only(api, admin_headers,
                                                                user_headers):
    creds = await _credentials_of_alice(api, user_headers)
    resp = await api.client.patch("/users/alice", headers=admin_headers,
                                  json={"password": "set-by-admin"})
    assert resp.status == 200, await resp.text()
    assert await _status(api, creds["password_jwt"]) == 401
    assert await _status(api, creds["api_key"]) == 200
    assert await _status(api, creds["token_jwt"]) == 200
    assert await _status(api, admin_headers) == 200
    await api.login("alice", "set-by-admin")


async def test_admin_patch_without_password_keeps_jwts(api, admin_headers, user_headers):
    resp = await api.client.patch("/users/alice", headers=admin_headers,
                                  json={"scopes": ["read:tokens", "write:tokens"]})
    assert resp.status == 200
    assert (await resp.json())["scopes"] == ["read:tokens", "write:tokens"]
    assert await _status(api, user_headers) == 200


async def test_admin_patch_rules(api, admin_headers, user_headers):
    async def patch(name, **body):
        return await api.client.patch(f"/users/{name}", headers=admin_headers, json=body)

    await assert_error(await patch("nobody", type="user"), 404, "not_found")
    await assert_error(await patch("alice", scopes=["write:users"]), 422)
    await assert_error(await patch("alice", scopes=["bogus"]), 422)
    await assert_error(await patch("alice", password="short"), 422)
    await assert_error(await patch("alice", username="bob"), 422)
    await assert_error(await patch("alice", type="root"), 422)
    promoted = await (await patch("ALICE", type="admin")).json()
    assert promoted["type"] == "admin" and promoted["scopes"] == order(ALL_SCOPES)
    demoted = await (await patch("alice", type="user")).json()
    assert demoted["type"] == "user" and "write:users" not in demoted["scopes"]
    # The last admin cannot be demoted or deleted.
    await assert_error(await patch("admin", type="user"), 409, "conflict")
    await assert_error(await api.client.delete("/users/admin", headers=admin_headers), 409)
    await assert_error(await api.client.patch("/users/admin", headers=user_headers,
                                              json={"type": "user"}), 403, "insufficient_scope")


async def test_delete_user_keeps_tokens_ownerless_and_ends_every_jwt(
        api, admin_headers, user_headers, database_url):
    token = await api.create_token(user_headers, label="device")
    token_jwt = bearer(await api.client_credentials(token))
    api_key = {"Authorization": token["api_key"]}
    for headers in (user_headers, token_jwt, api_key):
        assert await _status(api, headers) == 200

    resp = await api.client.delete("/users/alice", headers=admin_headers)
    assert resp.status == 204 and await resp.read() == b""
    await assert_error(await api.client.delete("/users/alice", headers=admin_headers), 404)

    for headers in (user_headers, token_jwt, api_key):
        await assert_error(await api.client.get("/users/me", headers=headers), 401,
                           "invalid_token")
    listing = await (await api.client.get("/tokens", headers=admin_headers)).json()
    [item] = [t for t in listing["items"] if t["id"] == token["id"]]
    assert item["user"] is None and item["is_valid"] is False
    assert item["invalidated_at"] is not None
    one = await (await api.client.get(f"/tokens/{token['id']}", headers=admin_headers)).json()
    assert one["user"] is None and one["is_valid"] is False
    async with connect(database_url) as conn:
        row = await conn.fetchrow("SELECT user_id, invalidated_at FROM tokens WHERE id = $1",
                                  uuid.UUID(token["id"]))
    assert row["user_id"] is None and row["invalidated_at"] is not None
    resp = await api.client.post("/login", data={"grant_type": "client_credentials",
                                                 "client_id": token["id"],
                                                 "client_secret": token["secret"]})
    await assert_error(resp, 401, "invalid_client")
    users = await (await api.client.get("/users", headers=admin_headers)).json()
    assert "alice" not in {u["username"] for u in users["items"]}
    # An admin may still tidy the ownerless token away.
    resp = await api.client.patch(f"/tokens/{token['id']}", headers=admin_headers,
                                  json={"label": "orphan"})
    assert resp.status == 200 and (await resp.json())["is_valid"] is False
    assert (await api.client.delete(f"/tokens/{token['id']}", headers=admin_headers)).status == 204


async def test_recreated_user_does_not_inherit_old_jwts(api, admin_headers, user_headers):
    old_sub = claims_of(user_headers["Authorization"].split()[1])["sub"]
    old_token = await api.create_token(user_headers, label="old")
    await api.client.delete("/users/alice", headers=admin_headers)
    resp = await post_user(api, admin_headers, username="alice", password=USER_PASSWORD)
    assert resp.status == 201
    new_id = (await resp.json())["id"]
    assert new_id != old_sub
    await assert_error(await api.client.get("/users/me", headers=user_headers), 401,
                       "invalid_token")
    fresh = await api.bearer("alice")
    assert claims_of(fresh["Authorization"].split()[1])["sub"] == new_id
    assert await _status(api, fresh) == 200
    # Nor the old tokens: they stay ownerless.
    mine = await (await api.client.get("/tokens", headers=fresh)).json()
    assert mine["items"] == [] and mine["total"] == 0
    everyone = await (await api.client.get("/tokens?user=alice", headers=admin_headers)).json()
    assert everyone["total"] == 0
    assert await _status(api, {"Authorization": old_token["api_key"]}) == 401


async def test_delete_rules(api, admin_headers, user_headers):
    await assert_error(await api.client.delete("/users/nobody", headers=admin_headers), 404)
    await assert_error(await api.client.delete("/users/admin", headers=user_headers), 403,
                       "insufficient_scope")
    # Case-insensitive lookup; another admin may delete an admin when one remains.
    await api.create_user("second", ADMIN_PASSWORD, type_="admin")
    assert (await api.client.delete("/users/SECOND", headers=admin_headers)).status == 204
