"""Tokens bound to pipes: beyond its patterns a pipe does not exist for the token, with its
API key and with its JWTs; scopes still apply on top."""

from __future__ import annotations

import pytest

from tests.support.pipes import error_of, hourly, read, write

GARDEN = "/pipes/mqtt:garden/temperature/greenhouse.1"
GARDEN_NO_LOCATION = "/pipes/mqtt:garden/humidity/-"
OTHER = "/pipes/mqtt:kitchen/temperature/greenhouse.1"
ALL = ("read:pipes", "write:pipes", "delete:pipes")


async def register(client, headers, path, status=201):
    ck, mk, lk = path.removeprefix("/pipes/").split("/")
    body = {"connector_keys": ck, "metric_key": mk, "location_key": None if lk == "-" else lk}
    resp = await client.post("/pipes", headers=headers, json=body)
    assert resp.status == status, await resp.text()
    return await resp.json()


@pytest.fixture
async def fleet(client, owner_headers):
    """Three pipes with a row each, written by the owner."""
    for path in (GARDEN, GARDEN_NO_LOCATION, OTHER):
        await register(client, owner_headers, path)
        await write(client, owner_headers, hourly(1), path=path + "/data")


@pytest.fixture(params=["api_key", "jwt"])
def bound(request, api, owner_headers):
    """make(pipes, *scopes) -> headers of a fresh token bound to `pipes`, sent as its raw
    API key or as a JWT from its client credentials."""
    count = 0

    async def make(pipes, *scopes):
        nonlocal count
        count += 1
        token = await api.create_token(owner_headers, label=f"bound-{count}",
                                       scopes=list(scopes or ALL), pipes=pipes)
        assert token["pipes"] == pipes
        if request.param == "api_key":
            return {"Authorization": token["api_key"]}
        return {"Authorization": f"Bearer {await api.client_credentials(token)}"}

    return make


async def test_a_stolen_device_key_writes_its_own_pipe_and_nothing_else(client, bound, fleet,
                                                                        owner_headers):
    device = await bound(["mqtt:garden/temperature/greenhouse.1"])
    # Its own pipe: every route works.
    assert (await write(client, device, hourly(2, 5), path=GARDEN + "/data")) == {
        "inserted": 2, "updated": 0}
    assert len((await read(client, device, path=GARDEN + "/data"))["items"]) == 3
    resp = await client.patch(GARDEN, headers=device, json={"parameters": {"a": 1}})
    assert resp.status == 200, await resp.text()
    listing = await (await client.get("/pipes", headers=device)).json()
    assert [p["connector_keys"] + "/" + p["metric_key"] for p in listing["items"]] == [
        "mqtt:garden/temperature"]
    assert listing["total"] == 1
    # Every other pipe: as if it did not exist, on every route naming it.
    for path in (OTHER, GARDEN_NO_LOCATION, "/pipes/mqtt:garden/temperature/-"):
        for method, suffix, body in (("GET", "", None), ("PATCH", "", {"parameters": {"x": 1}}),
                                     ("DELETE", "", None), ("GET", "/data", None),
                                     ("POST", "/data", hourly(1, 9)),
                                     ("DELETE", "/data?begin=2020-01-01", None)):
            resp = await client.request(method, path + suffix, headers=device, json=body)
            err = await error_of(resp, 404)
            assert err["error_description"] == "No such pipe.", (method, path, suffix)
    # The same body as for a pipe that does not exist at all.
    missing = await error_of(await client.get("/pipes/nope/nope/-", headers=device), 404)
    hidden = await error_of(await client.get(OTHER, headers=device), 404)
    assert missing == hidden
    # Creating beyond its patterns: 403 naming the pipe, whether or not it exists.
    for path in (OTHER, "/pipes/mqtt:new/temperature/x"):
        resp = await client.post(path + "/data?create=true", headers=device, json=hourly(1))
        err = await error_of(resp, 403)
        assert err["error"] == "insufficient_scope"
        assert path.removeprefix("/pipes/") in err["error_description"]
    err = await error_of(await client.post("/pipes", headers=device, json={
        "connector_keys": "mqtt:kitchen", "metric_key": "temperature",
        "location_key": "greenhouse.1"}), 403)
    assert "mqtt:kitchen/temperature/greenhouse.1" in err["error_description"]
    # Nothing beyond its pipe changed: each still holds the owner's one row.
    for path in (OTHER, GARDEN_NO_LOCATION):
        body = await (await client.get(path, headers=owner_headers)).json()
        assert body["row_count"] == 1 and body["parameters"] == {}, path


async def test_wildcards_and_no_location(client, bound, fleet):
    device = await bound(["mqtt:garden/*/-", "*/temperature/greenhouse.1"])
    listing = await (await client.get("/pipes", headers=device)).json()
    seen = {(p["connector_keys"], p["metric_key"], p["location_key"]) for p in listing["items"]}
    assert seen == {("mqtt:garden", "humidity", None),
                    ("mqtt:garden", "temperature", "greenhouse.1"),
                    ("mqtt:kitchen", "temperature", "greenhouse.1")}
    assert listing["total"] == 3
    # Filters and pages apply within the reach; the count counts only what is reachable.
    page = await (await client.get("/pipes", headers=device,
                                   params={"metric_key": "temperature", "limit": 1})).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    # A location-less pattern does not match a pipe with a location, and the reverse.
    await register(client, device, "/pipes/mqtt:garden/wind/-")
    await error_of(await client.post("/pipes", headers=device, json={
        "connector_keys": "mqtt:garden", "metric_key": "wind", "location_key": "roof"}), 403)
    await write(client, device, hourly(1), path="/pipes/mqtt:garden/rain/-/data?create=true")


async def test_creating_within_reach_works_and_scopes_still_apply(client, bound, fleet):
    writer = await bound(["mqtt:garden/*/*"], "write:pipes")
    await write(client, writer, hourly(1), path="/pipes/mqtt:garden/soil/bed.2/data?create=true")
    await register(client, writer, "/pipes/mqtt:garden/light/-")
    # Its own pipes, but no read scope: 403 for the scope, before any pipe is looked at.
    err = await error_of(await client.get(GARDEN + "/data", headers=writer), 403)
    assert err["error"] == "insufficient_scope" and "read:pipes" in err["error_description"]
    reader = await bound(["mqtt:garden/*/*"], "read:pipes")
    err = await error_of(await client.post(GARDEN + "/data", headers=reader, json=hourly(1)), 403)
    assert "write:pipes" in err["error_description"]
    assert (await (await client.get("/pipes", headers=reader)).json())["total"] == 4


async def test_an_unbound_token_reaches_every_pipe(client, api, owner_headers, fleet):
    token = await api.create_token(owner_headers, label="everything", pipes=None)
    assert token["pipes"] is None
    listing = await (await client.get("/pipes", headers={"Authorization": token["api_key"]})
                     ).json()
    assert listing["total"] == 3
