"""Registering, listing, reading, patching and deleting pipes."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.pipes import PIPE, error_of


async def register(client, headers, **body):
    return await client.post("/pipes", headers=headers, json=body)


async def test_register_answers_201_with_the_pipe(client, owner_headers):
    resp = await register(client, owner_headers, connector_keys="sql:main",
                          metric_key="temperature", location_key="lab.1",
                          parameters={"columns": {"datetime": "timestamp"}})
    assert resp.status == 201, await resp.text()
    assert resp.headers["Location"] == PIPE
    body = await resp.json()
    created_at = body.pop("created_at")
    assert created_at.endswith("Z")
    assert body == {"connector_keys": "sql:main", "metric_key": "temperature",
                    "location_key": "lab.1", "parameters": {"columns": {"datetime": "timestamp"}},
                    "row_count": 0, "first_timestamp": None, "last_timestamp": None}


@pytest.mark.parametrize("location", [{}, {"location_key": None}])
async def test_omitted_or_null_location_means_none(client, owner_headers, location):
    resp = await register(client, owner_headers, connector_keys="mqtt:home", metric_key="power",
                          **location)
    assert resp.status == 201
    assert resp.headers["Location"] == "/pipes/mqtt:home/power/-"
    body = await resp.json()
    assert body["location_key"] is None and body["parameters"] == {}
    resp = await client.get("/pipes/mqtt:home/power/-", headers=owner_headers)
    assert resp.status == 200
    assert (await resp.json())["location_key"] is None


async def test_registering_twice_is_409(client, owner_headers, pipe):
    resp = await register(client, owner_headers, connector_keys="sql:main",
                          metric_key="temperature", location_key="lab.1")
    body = await error_of(resp, 409)
    assert body["error"] == "conflict"


async def test_two_pipes_without_location_conflict(client, owner_headers):
    assert (await register(client, owner_headers, connector_keys="a", metric_key="b")).status \
        == 201
    await error_of(await register(client, owner_headers, connector_keys="a", metric_key="b",
                                  location_key=None), 409)
    # A location makes it another pipe.
    assert (await register(client, owner_headers, connector_keys="a", metric_key="b",
                           location_key="c")).status == 201


@pytest.mark.parametrize("key", ["sql:main", "a", "A-b_c.d:e", "x" * 100, "...", "-a", ".a"])
async def test_valid_keys(client, owner_headers, key):
    resp = await register(client, owner_headers, connector_keys=key, metric_key=key,
                          location_key=key)
    assert resp.status == 201, await resp.text()
    resp = await client.get(f"/pipes/{key}/{key}/{key}", headers=owner_headers)
    assert resp.status == 200, await resp.text()


@pytest.mark.parametrize("key", ["", "-", ".", "..", "a b", "a/b", "x" * 101, "é", "a\nb",
                                 "abc\n", 5, ["a"]])
@pytest.mark.parametrize("field", ["connector_keys", "metric_key", "location_key"])
async def test_invalid_keys_are_422(client, owner_headers, field, key):
    body = {"connector_keys": "c", "metric_key": "m", field: key}
    resp = await client.post("/pipes", headers=owner_headers, json=body)
    err = await error_of(resp, 422)
    assert list(err["fields"]) == [field]


@pytest.mark.parametrize("body, field", [
    ({"metric_key": "m"}, "connector_keys"),
    ({"connector_keys": "c"}, "metric_key"),
    ({"connector_keys": "c", "metric_key": "m", "parameters": [1]}, "parameters"),
    ({"connector_keys": "c", "metric_key": "m", "parameters": None}, "parameters"),
    ({"connector_keys": "c", "metric_key": "m", "owner": "bob"}, "owner"),
])
async def test_bad_register_bodies_are_422(client, owner_headers, body, field):
    err = await error_of(await client.post("/pipes", headers=owner_headers, json=body), 422)
    assert field in err["fields"]


async def test_register_refuses_unstorable_parameters(client, owner_headers):
    resp = await client.post("/pipes", headers={**owner_headers,
                                                "Content-Type": "application/json"},
                             data='{"connector_keys": "c", "metric_key": "m", '
                                  '"parameters": {"x": NaN}}')
    err = await error_of(resp, 422)
    assert "finite" in err["fields"]["parameters"][0]
    resp = await client.post("/pipes", headers=owner_headers, json={
        "connector_keys": "c", "metric_key": "m", "parameters": {"x": "a\u0000b"}})
    assert "NUL" in (await error_of(resp, 422))["fields"]["parameters"][0]


async def test_register_refuses_non_json(client, owner_headers):
    resp = await client.post("/pipes", headers=owner_headers, data="connector_keys=c")
    await error_of(resp, 415)
    resp = await client.post("/pipes", headers={**owner_headers,
                                                "Content-Type": "application/json"},
                             data="{not json")
    await error_of(resp, 400)
    resp = await client.post("/pipes", headers=owner_headers, json=["c", "m"])
    await error_of(resp, 422)


async def make_pipes(client, headers):
    for ck, mk, lk in [("sql:main", "temperature", "lab.1"), ("sql:main", "temperature", None),
                       ("sql:main", "humidity", "lab.1"), ("mqtt:home", "temperature", "lab.2")]:
        resp = await register(client, headers, connector_keys=ck, metric_key=mk, location_key=lk)
        assert resp.status == 201


def triples(body):
    return [(p["connector_keys"], p["metric_key"], p["location_key"]) for p in body["items"]]


async def test_list_orders_and_filters(client, owner_headers):
    await make_pipes(client, owner_headers)
    resp = await client.get("/pipes", headers=owner_headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["total"] == 4 and body["limit"] == 100 and body["offset"] == 0
    assert triples(body) == [("mqtt:home", "temperature", "lab.2"),
                             ("sql:main", "humidity", "lab.1"),
                             ("sql:main", "temperature", None),
                             ("sql:main", "temperature", "lab.1")]
    assert set(body["items"][0]) == {"connector_keys", "metric_key", "location_key",
                                     "parameters", "created_at"}

    async def listing(query):
        resp = await client.get("/pipes", headers=owner_headers, params=query)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    body = await listing({"connector_keys": "sql:main", "metric_key": "temperature"})
    assert body["total"] == 2
    assert triples(body) == [("sql:main", "temperature", None),
                             ("sql:main", "temperature", "lab.1")]
    body = await listing({"location_key": "-"})
    assert triples(body) == [("sql:main", "temperature", None)]
    body = await listing({"location_key": "lab.1"})
    assert body["total"] == 2
    body = await listing({"metric_key": "temperature", "limit": "1", "offset": "1"})
    assert body["total"] == 3 and body["limit"] == 1 and body["offset"] == 1
    assert triples(body) == [("sql:main", "temperature", None)]
    body = await listing({"connector_keys": "nothing"})
    assert body == {"items": [], "total": 0, "limit": 100, "offset": 0}


@pytest.mark.parametrize("query, field", [
    ({"connector_keys": "a b"}, "connector_keys"),
    ({"metric_key": "-"}, "metric_key"),
    ({"location_key": ".."}, "location_key"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"offset": "-1"}, "offset"),
    ({"owner": "alice"}, "owner"),
])
async def test_list_refuses_bad_query(client, owner_headers, query, field):
    err = await error_of(await client.get("/pipes", headers=owner_headers, params=query), 422)
    assert field in err["fields"]


async def test_list_refuses_repeated_parameter(client, owner_headers):
    resp = await client.get("/pipes?metric_key=a&metric_key=b", headers=owner_headers)
    assert "metric_key" in (await error_of(resp, 422))["fields"]


async def test_get_unknown_pipe_is_404(client, owner_headers, pipe):
    for path in ["/pipes/sql:main/temperature/-", "/pipes/sql:main/temperature/lab.2",
                 "/pipes/sql:other/temperature/lab.1"]:
        assert (await error_of(await client.get(path, headers=owner_headers), 404))[
            "error"] == "not_found"


@pytest.mark.parametrize("path, field", [
    ("/pipes/-/temperature/lab.1", "connector_keys"),
    ("/pipes/sql:main/a%20b/lab.1", "metric_key"),
    ("/pipes/sql:main/temperature/" + "x" * 101, "location_key"),
    ("/pipes/sql:main/temperature/%2E%2E%2E%2E%C3%A9", "location_key"),
])
async def test_bad_keys_in_path_are_422(client, owner_headers, path, field):
    for method in ("GET", "PATCH", "DELETE"):
        resp = await client.request(method, path, headers=owner_headers,
                                    json={"parameters": {}})
        err = await error_of(resp, 422)
        assert list(err["fields"]) == [field]
    for method in ("GET", "POST", "DELETE"):
        resp = await client.request(method, path + "/data?begin=2024-01-01", headers=owner_headers,
                                    json=[])
        err = await error_of(resp, 422)
        assert list(err["fields"]) == [field]


async def test_get_shows_row_statistics(client, owner_headers, pipe):
    rows = [{"timestamp": "2024-01-01T00:00:00Z", "t": 1},
            {"timestamp": "2024-01-03T00:00:00+02:00", "t": 2},
            {"timestamp": "2024-01-02T12:00:00", "t": 3}]
    resp = await client.post(pipe + "/data", headers=owner_headers, json=rows)
    assert resp.status == 200
    body = await (await client.get(pipe, headers=owner_headers)).json()
    assert body["row_count"] == 3
    assert body["first_timestamp"] == "2024-01-01T00:00:00Z"
    assert body["last_timestamp"] == "2024-01-02T22:00:00Z"


async def test_patch_merges_parameters(client, owner_headers):
    resp = await register(client, owner_headers, connector_keys="c", metric_key="m",
                          parameters={"a": 1, "nested": {"x": 1, "y": 2}, "gone": True})
    assert resp.status == 201
    resp = await client.patch("/pipes/c/m/-", headers=owner_headers, json={
        "parameters": {"b": [1, 2], "nested": {"y": None, "z": 3}, "gone": None, "a": "one"}})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["parameters"] == {"a": "one", "b": [1, 2], "nested": {"x": 1, "z": 3}}
    assert body["row_count"] == 0
    # Stored, not only answered.
    again = await (await client.get("/pipes/c/m/-", headers=owner_headers)).json()
    assert again["parameters"] == body["parameters"]
    resp = await client.patch("/pipes/c/m/-", headers=owner_headers, json={"parameters": {}})
    assert (await resp.json())["parameters"] == body["parameters"]


@pytest.mark.parametrize("body, field", [
    ({}, "parameters"),
    ({"parameters": None}, "parameters"),
    ({"parameters": "x"}, "parameters"),
    ({"parameters": {}, "metric_key": "other"}, "metric_key"),
])
async def test_patch_refuses_bad_bodies(client, owner_headers, pipe, body, field):
    err = await error_of(await client.patch(pipe, headers=owner_headers, json=body), 422)
    assert field in err["fields"]


async def test_patch_unknown_pipe_is_404(client, owner_headers):
    resp = await client.patch(PIPE, headers=owner_headers, json={"parameters": {"a": 1}})
    await error_of(resp, 404)


async def test_delete_removes_pipe_and_rows(client, owner_headers, pipe):
    rows = [{"timestamp": "2024-01-01T00:00:00Z", "t": 1}]
    assert (await client.post(pipe + "/data", headers=owner_headers, json=rows)).status == 200
    resp = await client.delete(pipe, headers=owner_headers)
    assert resp.status == 204
    await error_of(await client.get(pipe, headers=owner_headers), 404)
    await error_of(await client.delete(pipe, headers=owner_headers), 404)
    # Registered again, the pipe starts empty: the old row went with it.
    resp = await client.post(pipe + "/data?create=true", headers=owner_headers, json=rows)
    assert await resp.json() == {"inserted": 1, "updated": 0}


async def test_concurrent_patches_all_merge(client, owner_headers, pipe):
    """Each patch merges into what the one before it stored: none is lost."""
    patches = [client.patch(pipe, headers=owner_headers, json={"parameters": {f"k{i}": i}})
               for i in range(10)]
    results = await asyncio.gather(*patches)
    assert [r.status for r in results] == [200] * 10
    body = await (await client.get(pipe, headers=owner_headers)).json()
    assert body["parameters"] == {f"k{i}": i for i in range(10)}


async def test_concurrent_first_writes_create_one_pipe(client, owner_headers):
    rows = [{"timestamp": "2024-01-01T00:00:00Z", "v": 1}]
    results = await asyncio.gather(*(
        client.post("/pipes/dev:9/power/-/data?create=true", headers=owner_headers, json=rows)
        for _ in range(6)))
    assert [r.status for r in results] == [200] * 6
    counts = [await r.json() for r in results]
    assert sum(c["inserted"] for c in counts) == 1 and sum(c["updated"] for c in counts) == 5
    body = await (await client.get("/pipes", headers=owner_headers)).json()
    assert body["total"] == 1
