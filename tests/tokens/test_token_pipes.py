"""A token's `pipes`: set, shown, changed, validated, capped by the caller's own, carried in
its JWTs, and narrowed at once."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.support.assertions import assert_error, claims_of

GARDEN = ["mqtt:garden/*/*"]
ONE = ["mqtt:garden/temperature/greenhouse.1"]


@pytest.fixture
async def alice(api):
    await api.create_user("alice")
    return await api.bearer("alice")


async def post(client, headers, **body):
    return await client.post("/tokens", json=body, headers=headers)


async def test_set_shown_and_changed_in_every_representation(client, api, alice):
    token = await api.create_token(alice, label="device", pipes=GARDEN + ONE + GARDEN)
    assert token["pipes"] == GARDEN + ONE  # duplicates dropped, order kept
    resp = await client.get(f"/tokens/{token['id']}", headers=alice)
    assert (await resp.json())["pipes"] == GARDEN + ONE
    listed = await (await client.get("/tokens", headers=alice)).json()
    assert listed["items"][0]["pipes"] == GARDEN + ONE
    resp = await client.patch(f"/tokens/{token['id']}", json={"pipes": ONE}, headers=alice)
    assert resp.status == 200 and (await resp.json())["pipes"] == ONE
    resp = await client.patch(f"/tokens/{token['id']}", json={"label": "x"}, headers=alice)
    assert (await resp.json())["pipes"] == ONE  # untouched when not named
    resp = await client.patch(f"/tokens/{token['id']}", json={"pipes": None}, headers=alice)
    assert (await resp.json())["pipes"] is None
    plain = await api.create_token(alice, label="plain")
    assert plain["pipes"] is None


@pytest.mark.parametrize("pipes", [
    [], ["mqtt:garden"], ["mqtt:garden/*"], ["a/b/c/d"], ["/b/c"], ["a//c"], ["a/b/"],
    ["mqtt:*/*/*"], ["mqtt:garden/temp%/*"], ["-/b/c"], ["a/-/c"], ["../b/c"], ["a/./c"],
    ["a/b/.."], ["a/b/c\n"], [" a/b/c"], ["gärten/b/c"], ["a/b/c\u0000"], [1], [None],
    "mqtt:garden/*/*", {"a": 1}, [f"p{i}/m/-" for i in range(65)], ["a" * 101 + "/b/c"],
    ["a/b/" + "c" * 10_000],
])
async def test_malformed_patterns_are_422_naming_pipes(client, alice, pipes):
    resp = await post(client, alice, pipes=pipes)
    err = await assert_error(resp, 422, "validation_error")
    assert list(err["fields"]) == ["pipes"], err
    assert len(await resp.text()) < 2000  # a huge pattern is not echoed back
    assert (await (await client.get("/tokens", headers=alice)).json())["total"] == 0


async def test_malformed_patterns_on_patch_are_422(client, api, alice):
    token = await api.create_token(alice, pipes=GARDEN)
    for pipes in ([], ["x"], ["a/*b/c"]):
        resp = await client.patch(f"/tokens/{token['id']}", json={"pipes": pipes}, headers=alice)
        err = await assert_error(resp, 422, "validation_error")
        assert list(err["fields"]) == ["pipes"]
    assert (await (await client.get(f"/tokens/{token['id']}", headers=alice)).json()
            )["pipes"] == GARDEN


async def test_the_last_usable_pattern_length_and_count_are_accepted(client, api, alice):
    longest = "/".join(["k" * 100] * 3)
    pipes = [longest] + [f"dev:{i}/*/-" for i in range(63)]
    token = await api.create_token(alice, pipes=pipes)
    assert token["pipes"] == pipes


async def _bound_key(api, alice, pipes, scopes=("write:tokens", "read:tokens")):
    token = await api.create_token(alice, pipes=pipes, scopes=list(scopes))
    return token, {"Authorization": token["api_key"]}


async def test_ceiling_a_bound_caller_gives_only_pipes_it_covers(client, api, alice):
    me, key = await _bound_key(api, alice, GARDEN + ["*/temperature/-"])
    # Omitted: the caller's own patterns.
    made = await api.create_token(key, label="child")
    assert made["pipes"] == GARDEN + ["*/temperature/-"]
    for ok in (ONE, ["mqtt:garden/*/-"], ["mqtt:kitchen/temperature/-"], GARDEN):
        assert (await post(client, key, pipes=ok)).status == 201, ok
    for wider in (None, ["*/*/*"], ["mqtt:kitchen/*/*"], ["*/temperature/greenhouse.1"],
                  ONE + ["other/x/-"]):
        resp = await post(client, key, pipes=wider)
        err = await assert_error(resp, 422, "validation_error")
        assert list(err["fields"]) == ["pipes"], wider
    # On edit too, itself included, and another token's.
    child = made["id"]
    for target in (child, me["id"]):
        resp = await client.patch(f"/tokens/{target}", json={"pipes": ["*/*/*"]}, headers=key)
        await assert_error(resp, 422, "validation_error")
        resp = await client.patch(f"/tokens/{target}", json={"pipes": None}, headers=key)
        await assert_error(resp, 422, "validation_error")
    resp = await client.patch(f"/tokens/{child}", json={"pipes": ONE}, headers=key)
    assert resp.status == 200 and (await resp.json())["pipes"] == ONE


async def test_ceiling_an_unbound_caller_gives_anything(client, api, alice):
    _, key = await _bound_key(api, alice, None)
    assert (await api.create_token(key, label="a"))["pipes"] is None
    assert (await api.create_token(key, label="b", pipes=["*/*/*"]))["pipes"] == ["*/*/*"]
    # A password login is not bound either.
    assert (await api.create_token(alice, label="c", pipes=None))["pipes"] is None


async def test_ceiling_through_a_jwt_of_a_bound_token(client, api, alice):
    token, _ = await _bound_key(api, alice, GARDEN)
    jwt = {"Authorization": f"Bearer {await api.client_credentials(token)}"}
    assert (await post(client, jwt, pipes=ONE)).status == 201
    await assert_error(await post(client, jwt, pipes=None), 422, "validation_error")
    assert (await api.create_token(jwt, label="inherits"))["pipes"] == GARDEN


async def test_the_jwt_carries_the_patterns_in_authorization_details(api, alice):
    token, _ = await _bound_key(api, alice, GARDEN + ONE)
    resp = await api.client.post("/login", data={"grant_type": "client_credentials",
                                                 "client_id": token["id"],
                                                 "client_secret": token["secret"]})
    grant = await resp.json()
    claims = claims_of(grant["access_token"])
    # ONE is covered by GARDEN: the JWT names the patterns that decide, GARDEN.
    assert claims["authorization_details"] == [{"type": "mrsm_pipes", "pipes": GARDEN}]
    assert grant["authorization_details"] == claims["authorization_details"]
    plain = await api.create_token(alice, label="plain")
    assert "authorization_details" not in claims_of(await api.client_credentials(plain))


async def test_narrowing_applies_at_once_to_the_key_and_its_jwts(client, api, alice):
    for path in ("/pipes/mqtt:garden/temperature/greenhouse.1", "/pipes/mqtt:garden/rain/-"):
        resp = await client.post(path + "/data?create=true", headers=alice,
                                 json=[{"timestamp": "2024-01-01T00:00:00Z", "v": 1}])
        assert resp.status == 200
    token = await api.create_token(alice, pipes=GARDEN, scopes=["read:pipes"])
    jwt = {"Authorization": f"Bearer {await api.client_credentials(token)}"}
    key = {"Authorization": token["api_key"]}
    for headers in (key, jwt):  # both verified and cached
        assert (await client.get("/pipes/mqtt:garden/rain/-", headers=headers)).status == 200
    resp = await client.patch(f"/tokens/{token['id']}", json={"pipes": ONE}, headers=alice)
    assert resp.status == 200
    for headers in (key, jwt):
        assert (await client.get("/pipes/mqtt:garden/rain/-", headers=headers)).status == 404
        assert (await (await client.get("/pipes", headers=headers)).json())["total"] == 1
        assert (await (await client.get("/users/me", headers=headers)).json())["pipes"] == ONE
    # Widening the token again does not widen a JWT beyond what it was issued for.
    resp = await client.patch(f"/tokens/{token['id']}", json={"pipes": None}, headers=alice)
    assert (await client.get("/pipes/mqtt:garden/rain/-", headers=key)).status == 200
    assert (await client.get("/pipes/mqtt:garden/rain/-", headers=jwt)).status == 200
    resp = await client.patch(f"/tokens/{token['id']}",
                              json={"pipes": ["mqtt:garden/rain/*"]}, headers=alice)
    # Issued for GARDEN, its token now reaches only rain: the JWT reaches rain alone.
    assert (await client.get("/pipes/mqtt:garden/rain/-", headers=jwt)).status == 200
    assert (await client.get("/pipes/mqtt:garden/temperature/greenhouse.1",
                             headers=jwt)).status == 404
    me = await (await client.get("/users/me", headers=jwt)).json()
    assert me["pipes"] == ["mqtt:garden/rain/*"]
    # No overlap left: the JWT reaches no pipe at all, while its key reaches the new ones.
    resp = await client.patch(f"/tokens/{token['id']}", json={"pipes": ["other/*/*"]},
                              headers=alice)
    assert (await (await client.get("/pipes", headers=jwt)).json())["total"] == 0
    assert (await (await client.get("/users/me", headers=jwt)).json())["pipes"] == []
    assert (await client.get("/pipes/mqtt:garden/rain/-", headers=jwt)).status == 404
    assert (await (await client.get("/users/me", headers=alice)).json())["pipes"] is None


async def test_a_change_of_pipes_notifies_every_process(database_url, api, alice):
    token = await api.create_token(alice, pipes=GARDEN)
    heard: asyncio.Queue[str] = asyncio.Queue()
    conn = await asyncpg.connect(database_url)
    try:
        await conn.add_listener("mrsm_auth", lambda *args: heard.put_nowait(args[-1]))
        other = await asyncpg.connect(database_url)
        try:
            await other.execute("UPDATE tokens SET pipes = $2 WHERE id = $1::uuid",
                                token["id"], ONE)
            await other.execute("UPDATE tokens SET last_used_at = now() WHERE id = $1::uuid",
                                token["id"])
        finally:
            await other.close()
        assert await asyncio.wait_for(heard.get(), 5) == f"token:{token['id']}"
        await conn.execute("SELECT 1")  # any later notice would have arrived by now
        assert heard.empty()  # last_used_at notifies nobody
    finally:
        await conn.close()


async def test_audit_records_the_patterns(client, api, admin_headers):
    token = await api.create_token(admin_headers, pipes=GARDEN)
    await client.patch(f"/tokens/{token['id']}", json={"pipes": ONE}, headers=admin_headers)
    events = await (await client.get("/audit", headers=admin_headers)).json()
    details = [e.get("details") for e in events["items"]]
    assert any(d and d.get("pipes") == GARDEN for d in details), details
    assert any(d and d.get("changes", {}).get("pipes") == ONE for d in details), details
