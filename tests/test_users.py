"""Users: registration rules, listing, /users/me, password changes and deletion."""

from __future__ import annotations

import uuid

from service.auth.scopes import ALL_SCOPES, DEFAULT_USER_SCOPES, order
from tests.assertions import (
    assert_error,
    bearer,
    claims_of,
    clean_tables,  # noqa: F401 (autouse: a faster clean slate)
    connect,
)
from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD

PASSWORD = "long-enough-1"


async def post_user(api, headers, **body):
    return await api.client.post("/users", json=body, headers=headers)


VALID_USERNAMES = ["a", "A-Z.a_z@0-9", "x" * 60, "user@example.com"]
INVALID_USERNAMES = ["", "x" * 61, "has space", "semi;colon", "slash/", "ünïcode", "tab\t",
                     "quote'", "alice\n", "\nalice", "nul\x00", 42, None,
                     "me", "ME", "Me"]  # 'me' is reserved (/users/me), in any case


async def test_valid_usernames_are_accepted(api, admin_headers):
    for username in VALID_USERNAMES:
        resp = await post_user(api, admin_headers, username=username, password=PASSWORD)
        assert resp.status == 201, (username, await resp.text())
        body = await resp.json()
        assert body["username"] == username
        assert set(body) == {"id", "username", "type", "scopes", "created_at"}
        assert uuid.UUID(body["id"]).version == 4


async def test_invalid_usernames_are_422(api, admin_headers):
    for username in INVALID_USERNAMES:
        resp = await post_user(api, admin_headers, username=username, password=PASSWORD)
        body = await assert_error(resp, 422, "validation_error")
        assert "username" in body["fields"], username
    listing = await (await api.client.get("/users", headers=admin_headers)).json()
    assert listing["total"] == 1  # only the admin: nothing was stored


async def test_usernames_are_unique_without_regard_to_case(api, admin_headers):
    assert (await post_user(api, admin_headers, username="Bob", password=PASSWORD)).status == 201
    for name in ("Bob", "bob", "BOB"):
        await assert_error(await post_user(api, admin_headers, username=name, password=PASSWORD),
                           409, "conflict")
    # The admin itself, under another case.
    await assert_error(await post_user(api, admin_headers, username="ADMIN", password=PASSWORD),
                       409, "conflict")


async def test_password_length_8_to_1024(api, admin_headers):
    cases = [("x" * 7, 422), ("x" * 8, 201), ("x" * 1024, 201), ("x" * 1025, 422), ("", 422),
             (12345678, 422), (None, 422), ("nul\x00-password", 422),
             ("\ud800-lone-surrogate", 422)]
    for i, (password, status) in enumerate(cases):
        resp = await post_user(api, admin_headers, username=f"pw{i}", password=password)
        if status == 201:
            assert resp.status == 201, (password, await resp.text())
            assert "password" not in await resp.json()
        else:
            assert "password" in (await assert_error(resp, 422))["fields"], password


async def test_unstorable_current_password_is_422(api, user_headers):
    resp = await api.client.patch("/users/me", headers=user_headers,
                                  json={"current_password": "\udfff\ud800-x",
                                        "new_password": "brand-new-pass"})
    assert "current_password" in (await assert_error(resp, 422))["fields"]


async def test_impossible_username_in_path_is_404(api, admin_headers):
    for name in ("a%00b", "a%0A", "x" * 61, "sp%20ace"):
        for method in ("PATCH", "DELETE"):
            resp = await api.client.request(method, f"/users/{name}", headers=admin_headers,
                                            json={"type": "user"})
            await assert_error(resp, 404, "not_found")


async def test_password_at_the_limits_can_log_in(api, admin_headers):
    await post_user(api, admin_headers, username="long", password="é" * 1024)
    await api.login("long", "é" * 1024)


async def test_missing_fields_unknown_fields_and_bad_type(api, admin_headers):
    body = await assert_error(await post_user(api, admin_headers, username="x"), 422)
    assert "password" in body["fields"]
    body = await assert_error(
        await post_user(api, admin_headers, username="x", password=PASSWORD, id=str(uuid.uuid4())),
        422)
    assert "id" in body["fields"]
    body = await assert_error(
        await post_user(api, admin_headers, username="x", password=PASSWORD, type="root"), 422)
    assert "type" in body["fields"]


async def test_types_and_default_scopes(api, admin_headers):
    user = await (await post_user(api, admin_headers, username="u1", password=PASSWORD)).json()
    assert user["type"] == "user"
    assert user["scopes"] == list(DEFAULT_USER_SCOPES)
    admin = await (await post_user(api, admin_headers, username="a2", password=PASSWORD,
                                   type="admin")).json()
    assert admin["type"] == "admin"
    assert admin["scopes"] == order(ALL_SCOPES)  # admins hold every scope
    # The new admin really holds write:users.
    headers = await api.bearer("a2", PASSWORD)
    assert (await post_user(api, headers, username="u3", password=PASSWORD)).status == 201


async def test_given_scopes_and_admin_only_scopes(api, admin_headers):
    resp = await post_user(api, admin_headers, username="r", password=PASSWORD,
                           scopes=["read:pipes"])
    assert (await resp.json())["scopes"] == ["read:pipes"]
    for scopes in (["read:users"], ["write:users", "read:pipes"]):
        body = await assert_error(await post_user(api, admin_headers, username="r2",
                                                  password=PASSWORD, scopes=scopes), 422)
        assert "scopes" in body["fields"]
    body = await assert_error(await post_user(api, admin_headers, username="r2",
                                              password=PASSWORD, scopes=["read:everything"]), 422)
    assert "scopes" in body["fields"]
    # An admin may be given them (they hold them anyway).
    resp = await post_user(api, admin_headers, username="r3", password=PASSWORD, type="admin",
                           scopes=["read:users"])
    assert resp.status == 201
    # Nothing was stored for the refused ones.
    listing = await (await api.client.get("/users", headers=admin_headers)).json()
    assert {u["username"] for u in listing["items"]} == {"admin", "r", "r3"}


async def test_only_write_users_may_register(api, user_headers):
    resp = await post_user(api, user_headers, username="mallory", password=PASSWORD)
    await assert_error(resp, 403, "insufficient_scope")
    resp = await api.client.post("/users", json={"username": "m", "password": PASSWORD})
    await assert_error(resp, 401, "unauthorized")


async def test_list_users_shape_and_paging(api, admin_headers, user_headers):
    for name in ("carol", "dave", "erin"):
        await api.create_user(name)
    resp = await api.client.get("/users", headers=admin_headers)
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {"items", "total", "limit", "offset"}
    assert body["total"] == 5 and body["limit"] == 100 and body["offset"] == 0
    assert [u["username"] for u in body["items"]] == ["admin", "alice", "carol", "dave", "erin"]
    for item in body["items"]:
        assert set(item) == {"id", "username", "type", "scopes", "created_at"}
    page = await (await api.client.get("/users?limit=2&offset=2", headers=admin_headers)).json()
    assert [u["username"] for u in page["items"]] == ["carol", "dave"]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 2)
    past = await (await api.client.get("/users?offset=50", headers=admin_headers)).json()
    assert past["items"] == [] and past["total"] == 5
    assert (await api.client.get("/users?limit=1000", headers=admin_headers)).status == 200
    for query in ("limit=1001", "limit=0", "limit=-1", "offset=-1", "limit=abc", "limit=1.5",
                  "limit=1&limit=2", "sort=name"):
        await assert_error(await api.client.get(f"/users?{query}", headers=admin_headers), 422)
    await assert_error(await api.client.get("/users", headers=user_headers), 403,
                       "insufficient_scope")


async def test_me_with_a_password_jwt(api, user_headers):
    resp = await api.client.get("/users/me", headers=user_headers)
    assert resp.status == 200
    me = await resp.json()
    assert set(me) >= {"id", "username", "type", "scopes", "token"}
    assert me["username"] == "alice" and me["type"] == "user" and me["token"] is None
    assert me["scopes"] == list(DEFAULT_USER_SCOPES)
    # Narrowed at login: the effective scopes are the narrowed ones.
    narrowed = await api.login("alice", USER_PASSWORD, scope="read:tokens")
    me2 = await (await api.client.get("/users/me", headers=bearer(narrowed))).json()
    assert me2["scopes"] == ["read:tokens"] and me2["id"] == me["id"]


async def test_me_with_an_api_key_and_a_token_jwt(api, user_headers):
    token = await api.create_token(user_headers, label="sensor", scopes=["read:pipes",
                                                                         "read:tokens"])
    expected = {"id": token["id"], "label": "sensor"}
    me = await (await api.client.get("/users/me",
                                     headers={"Authorization": token["api_key"]})).json()
    assert me["username"] == "alice" and me["token"] == expected
    assert me["scopes"] == ["read:pipes", "read:tokens"]
    access = await api.client_credentials(token)
    me = await (await api.client.get("/users/me", headers=bearer(access))).json()
    assert me["username"] == "alice" and me["token"] == expected
    assert me["scopes"] == ["read:pipes", "read:tokens"]


async def test_admin_me_has_every_scope(api, admin_headers):
    me = await (await api.client.get("/users/me", headers=admin_headers)).json()
    assert me["type"] == "admin" and me["scopes"] == order(ALL_SCOPES)


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
