"""Managing tokens: listing, reading, editing, invalidating and deleting; who sees what."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.support.assertions import (
    SHAPE,
    assert_error,
    assert_token_shape,
    connect,
    parse_time,
)


async def post(api, headers, **body):
    return await api.client.post("/tokens", json=body, headers=headers)


async def test_listing_rules(api, user_headers, admin_headers):
    await api.create_user("bob")
    bob = await api.bearer("bob")
    mine = [await api.create_token(user_headers, label=f"a{i}") for i in range(3)]
    await api.create_token(bob, label="b0")
    admins = await api.create_token(admin_headers, label="adm")

    body = await (await api.client.get("/tokens", headers=user_headers)).json()
    assert set(body) == {"items", "total", "limit", "offset"}
    assert body["total"] == 3 and (body["limit"], body["offset"]) == (100, 0)
    assert [t["label"] for t in body["items"]] == ["a2", "a1", "a0"]  # newest first
    for item in body["items"]:
        assert_token_shape(item)
        assert item["user"] == "alice"
    assert {t["id"] for t in body["items"]} == {t["id"] for t in mine}

    everything = await (await api.client.get("/tokens", headers=admin_headers)).json()
    assert everything["total"] == 5
    assert admins["id"] in {t["id"] for t in everything["items"]}
    only_bob = await (await api.client.get("/tokens?user=BOB", headers=admin_headers)).json()
    assert [t["label"] for t in only_bob["items"]] == ["b0"] and only_bob["total"] == 1
    nobody = await (await api.client.get("/tokens?user=nobody", headers=admin_headers)).json()
    assert nobody["items"] == [] and nobody["total"] == 0

    await assert_error(await api.client.get("/tokens?user=bob", headers=user_headers), 403,
                       "forbidden")
    await assert_error(await api.client.get("/tokens?user=admin", headers=user_headers), 403)
    own = await (await api.client.get("/tokens?user=alice", headers=user_headers)).json()
    assert own["total"] == 3

    page = await (await api.client.get("/tokens?limit=2&offset=1", headers=user_headers)).json()
    assert [t["label"] for t in page["items"]] == ["a1", "a0"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
    for query in ("limit=1001", "limit=0", "offset=-1", "limit=x", "user=a%20b", "limit=1&limit=1",
                  "owner=bob"):
        await assert_error(await api.client.get(f"/tokens?{query}", headers=admin_headers), 422)


async def test_other_users_tokens_are_404_for_non_admins(api, user_headers, admin_headers):
    await api.create_user("bob")
    bob = await api.bearer("bob")
    theirs = await api.create_token(bob, label="bobs")
    missing = str(uuid.uuid4())
    for token_id in (theirs["id"], missing, "not-a-uuid"):
        answers = [
            await api.client.get(f"/tokens/{token_id}", headers=user_headers),
            await api.client.patch(f"/tokens/{token_id}", headers=user_headers,
                                   json={"label": "mine"}),
            await api.client.post(f"/tokens/{token_id}/invalidate", headers=user_headers),
            await api.client.delete(f"/tokens/{token_id}", headers=user_headers),
        ]
        bodies = [await assert_error(resp, 404, "not_found") for resp in answers]
        assert bodies[0] == {"error": "not_found", "error_description": "No such token."}
    # Untouched, and the admin sees it.
    got = await (await api.client.get(f"/tokens/{theirs['id']}", headers=admin_headers)).json()
    assert got["label"] == "bobs" and got["is_valid"] is True
    assert (await api.client.get(f"/tokens/{theirs['id']}", headers=bob)).status == 200


async def test_get_one_token(api, user_headers):
    token = await api.create_token(user_headers, label="one")
    resp = await api.client.get(f"/tokens/{token['id']}", headers=user_headers)
    got = await resp.json()
    assert_token_shape(got)
    assert {k: got[k] for k in SHAPE - {"last_used_at"}} == {
        k: token[k] for k in SHAPE - {"last_used_at"}}
    # Upper-case id is the same token.
    assert (await api.client.get(f"/tokens/{token['id'].upper()}",
                                 headers=user_headers)).status == 200


async def test_patch_fields(api, user_headers):
    token = await api.create_token(user_headers, label="before")
    resp = await api.client.patch(f"/tokens/{token['id']}", headers=user_headers,
                                  json={"label": "after", "expiration": "2999-01-01T00:00:00",
                                        "scopes": ["read:pipes"]})
    assert resp.status == 200
    got = await resp.json()
    assert_token_shape(got)
    assert (got["label"], got["expiration"], got["scopes"]) == (
        "after", "2999-01-01T00:00:00Z", ["read:pipes"])
    got = await (await api.client.patch(f"/tokens/{token['id']}", headers=user_headers,
                                        json={"expiration": None})).json()
    assert got["expiration"] is None and got["label"] == "after"
    got = await (await api.client.patch(f"/tokens/{token['id']}", headers=user_headers,
                                        json={})).json()
    assert got["label"] == "after"
    # The secret still works after edits.
    assert (await api.client.get("/users/me",
                                 headers={"Authorization": token["api_key"]})).status == 200


async def test_patch_refuses_mass_assignment(api, user_headers):
    token = await api.create_token(user_headers, label="fixed")
    for field, value in (("user", "bob"), ("is_valid", True), ("secret", "x"),
                         ("id", "00000000-0000-4000-8000-000000000000"),
                         ("created_at", "2020-01-01T00:00:00Z"), ("invalidated_at", None),
                         ("api_key", "x")):
        resp = await api.client.patch(f"/tokens/{token['id']}", headers=user_headers,
                                      json={field: value, "label": "changed"})
        body = await assert_error(resp, 422, "validation_error")
        assert field in body["fields"]
    got = await (await api.client.get(f"/tokens/{token['id']}", headers=user_headers)).json()
    assert got["label"] == "fixed" and got["is_valid"] is True and got["user"] == "alice"
    assert got["id"] == token["id"] and got["created_at"] == token["created_at"]


async def test_patch_validation_same_as_creation(api, user_headers):
    token = await api.create_token(user_headers)
    for body in ({"label": ""}, {"label": "x" * 101}, {"expiration": "2000-01-01"},
                 {"expiration": "soon"}, {"scopes": ["nope"]}):
        await assert_error(await api.client.patch(f"/tokens/{token['id']}", headers=user_headers,
                                                  json=body), 422)
    await assert_error(await api.client.patch(f"/tokens/{token['id']}", headers=user_headers,
                                              json={"scopes": ["write:users"]}), 403)


async def test_invalidate_is_one_way(api, user_headers):
    token = await api.create_token(user_headers, label="doomed", expiration=None)
    key = {"Authorization": token["api_key"]}
    resp = await api.client.post(f"/tokens/{token['id']}/invalidate", headers=user_headers)
    assert resp.status == 200
    got = await resp.json()
    assert_token_shape(got)
    assert got["is_valid"] is False
    first_at = parse_time(got["invalidated_at"])
    assert abs(first_at - datetime.now(UTC)) < timedelta(minutes=1)
    await assert_error(await api.client.get("/users/me", headers=key), 401, "invalid_token")
    # Again: still invalid, the first time is kept.
    again = await (await api.client.post(f"/tokens/{token['id']}/invalidate",
                                         headers=user_headers)).json()
    assert again["is_valid"] is False and parse_time(again["invalidated_at"]) == first_at
    # Still listed, still editable, never valid again.
    listing = await (await api.client.get("/tokens", headers=user_headers)).json()
    assert [t["is_valid"] for t in listing["items"]] == [False]
    edited = await (await api.client.patch(
        f"/tokens/{token['id']}", headers=user_headers,
        json={"label": "renamed", "expiration": "2999-01-01T00:00:00Z",
              "scopes": ["read:tokens"]})).json()
    assert edited["label"] == "renamed" and edited["is_valid"] is False
    assert edited["invalidated_at"] == got["invalidated_at"]
    await assert_error(await api.client.get("/users/me", headers=key), 401, "invalid_token")
    resp = await api.client.post("/login", data={"grant_type": "client_credentials",
                                                 "client_id": token["id"],
                                                 "client_secret": token["secret"]})
    await assert_error(resp, 401, "invalid_client")


async def test_admin_manages_any_token(api, user_headers, admin_headers):
    token = await api.create_token(user_headers, label="alices")
    resp = await api.client.patch(f"/tokens/{token['id']}", headers=admin_headers,
                                  json={"label": "by-admin"})
    assert (await resp.json())["label"] == "by-admin"
    resp = await api.client.post(f"/tokens/{token['id']}/invalidate", headers=admin_headers)
    assert (await resp.json())["is_valid"] is False
    assert (await api.client.delete(f"/tokens/{token['id']}", headers=admin_headers)).status == 204


async def test_delete_then_404(api, user_headers, database_url):
    token = await api.create_token(user_headers)
    resp = await api.client.delete(f"/tokens/{token['id']}", headers=user_headers)
    assert resp.status == 204 and await resp.read() == b""
    for resp in (await api.client.get(f"/tokens/{token['id']}", headers=user_headers),
                 await api.client.delete(f"/tokens/{token['id']}", headers=user_headers),
                 await api.client.post(f"/tokens/{token['id']}/invalidate",
                                       headers=user_headers)):
        await assert_error(resp, 404, "not_found")
    await assert_error(await api.client.get("/users/me",
                                            headers={"Authorization": token["api_key"]}), 401)
    async with connect(database_url) as conn:
        assert await conn.fetchval("SELECT count(*) FROM tokens") == 0


async def test_expired_token_shows_invalid(api, user_headers, database_url):
    token = await api.create_token(user_headers)
    async with connect(database_url) as conn:
        await conn.execute("UPDATE tokens SET expiration = now() - interval '1 second' "
                           "WHERE id = $1", uuid.UUID(token["id"]))
    got = await (await api.client.get(f"/tokens/{token['id']}", headers=user_headers)).json()
    assert got["is_valid"] is False and got["invalidated_at"] is None


async def test_scope_requirements_of_token_routes(api, user_headers):
    reader = await api.create_token(user_headers, scopes=["read:tokens"])
    writer = await api.create_token(user_headers, scopes=["write:tokens"])
    r = {"Authorization": reader["api_key"]}
    w = {"Authorization": writer["api_key"]}
    assert (await api.client.get("/tokens", headers=r)).status == 200
    body = await assert_error(await post(api, r), 403, "insufficient_scope")
    assert "write:tokens" in body["error_description"]
    await assert_error(await api.client.get("/tokens", headers=w), 403, "insufficient_scope")
    await assert_error(await api.client.get(f"/tokens/{reader['id']}", headers=w), 403)
    await assert_error(await api.client.delete(f"/tokens/{reader['id']}", headers=r), 403)
    await assert_error(await api.client.post(f"/tokens/{reader['id']}/invalidate", headers=r),
                       403)
    await assert_error(await api.client.patch(f"/tokens/{reader['id']}", headers=r,
                                              json={}), 403)
