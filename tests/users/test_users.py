"""Users: registration rules, scopes, listing, and /users/me."""

from __future__ import annotations

import uuid

from service.auth.scopes import ALL_SCOPES, DEFAULT_USER_SCOPES, order
from tests.support.api import USER_PASSWORD
from tests.support.assertions import (
    assert_error,
    bearer,
)

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


async def test_list_users_search(api, admin_headers):
    for name in ("carol", "Caroline", "dave", "a_b", "axb"):
        await api.create_user(name)

    async def names(q: str) -> tuple[list[str], int]:
        resp = await api.client.get("/users", headers=admin_headers, params={"q": q})
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        return [u["username"] for u in body["items"]], body["total"]

    assert await names("CAROL") == (["carol", "Caroline"], 2)
    assert await names("_") == (["a_b"], 1)  # a plain character, not LIKE's wildcard
    assert await names("nobody") == ([], 0)
    for bad in ("", "x" * 61, "nul\x00"):
        body = await assert_error(await api.client.get(
            "/users", headers=admin_headers, params={"q": bad}), 422)
        assert "q" in body["fields"]


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
