"""Scopes decide who reads, writes and deletes pipes: with API keys and with JWTs."""

from __future__ import annotations

import pytest

from tests.support.pipes import DATA, PIPE, error_of

ROWS = [{"timestamp": "2024-01-01T00:00:00Z", "temperature": 21.5}]
NEW_PIPE = {"connector_keys": "dev:7", "metric_key": "temperature"}

# Every pipe route, with the scope it needs.
READS = [("GET", "/pipes", None), ("GET", PIPE, None), ("GET", DATA, None)]
WRITES = [("POST", "/pipes", NEW_PIPE), ("PATCH", PIPE, {"parameters": {"a": 1}}),
          ("POST", DATA, ROWS), ("POST", DATA + "?create=true", ROWS)]
DELETES = [("DELETE", DATA + "?begin=2020-01-01", None), ("DELETE", PIPE, None)]


async def call(client, headers, method, path, body):
    return await client.request(method, path, headers=headers, json=body)


@pytest.fixture(params=["api_key", "jwt"])
def credential(request, api_key, token_jwt):
    """make(*scopes) -> headers, once as a raw API key and once as a client-credentials JWT."""
    return api_key if request.param == "api_key" else token_jwt


async def test_write_only_device_writes_and_never_reads(client, credential, pipe):
    device = await credential("write:pipes")
    for method, path, body in WRITES:
        resp = await call(client, device, method, path, body)
        assert resp.status in (200, 201), (method, path, await resp.text())
    for method, path, body in READS + DELETES:
        err = await error_of(await call(client, device, method, path, body), 403)
        assert err["error"] == "insufficient_scope", (method, path)
    resp = await client.get(DATA, headers={**device, "Accept": "text/csv"})
    await error_of(resp, 403)


async def test_read_only_dashboard_reads_and_never_writes(client, credential, owner_headers,
                                                          pipe, database_url):
    assert (await call(client, owner_headers, "POST", DATA, ROWS)).status == 200
    dashboard = await credential("read:pipes")
    for method, path, body in READS:
        resp = await call(client, dashboard, method, path, body)
        assert resp.status == 200, (method, path, await resp.text())
    resp = await client.get(DATA, headers=dashboard)
    assert (await resp.json())["items"] == ROWS
    for method, path, body in WRITES + DELETES:
        err = await error_of(await call(client, dashboard, method, path, body), 403)
        assert err["error"] == "insufficient_scope", (method, path)
    # Nothing changed: the pipe, its parameters and its one row are as they were.
    resp = await client.get(PIPE, headers=dashboard)
    body = await resp.json()
    assert body["parameters"] == {} and body["row_count"] == 1
    assert (await (await client.get("/pipes", headers=dashboard)).json())["total"] == 1


async def test_delete_needs_delete_scope(client, credential, owner_headers, pipe):
    assert (await call(client, owner_headers, "POST", DATA, ROWS)).status == 200
    read_write = await credential("read:pipes", "write:pipes")
    for method, path, body in DELETES:
        await error_of(await call(client, read_write, method, path, body), 403)
    deleter = await credential("delete:pipes")
    resp = await client.delete(DATA + "?begin=2020-01-01", headers=deleter)
    assert await resp.json() == {"deleted": 1}
    assert (await client.delete(PIPE, headers=deleter)).status == 204
    for method, path, body in READS[1:] + WRITES[:2]:
        await error_of(await call(client, deleter, method, path, body), 403)


async def test_a_token_without_pipe_scopes_gets_403_everywhere(client, credential, pipe):
    other = await credential("read:tokens")
    for method, path, body in READS + WRITES + DELETES:
        await error_of(await call(client, other, method, path, body), 403)


async def test_no_or_bad_credential_is_401(client, pipe):
    for method, path, body in READS + WRITES + DELETES:
        resp = await call(client, {}, method, path, body)
        err = await error_of(resp, 401)
        assert "WWW-Authenticate" in resp.headers
        assert err["error"] == "unauthorized"
        bad = {"Authorization": "mrsm-key:bm90LWEta2V5"}
        await error_of(await call(client, bad, method, path, body), 401)


async def test_the_seed_curl_shape_works(client, api_key, pipe):
    """curl -X GET http://localhost:8000/pipes -H "Authorization: $API_KEY"."""
    headers = await api_key("read:pipes")
    resp = await client.get("/pipes", headers=headers)
    assert resp.status == 200
    assert [p["metric_key"] for p in (await resp.json())["items"]] == ["temperature"]


async def test_openapi_documents_every_pipe_route(client):
    doc = await (await client.get("/openapi.json")).json()
    paths = doc["paths"]
    one = "/pipes/{connector_keys}/{metric_key}/{location_key}"
    expected = {
        ("/pipes", "post"): "write:pipes", ("/pipes", "get"): "read:pipes",
        (one, "get"): "read:pipes", (one, "patch"): "write:pipes",
        (one, "delete"): "delete:pipes", (one + "/data", "post"): "write:pipes",
        (one + "/data", "get"): "read:pipes", (one + "/data", "delete"): "delete:pipes",
    }
    for (path, method), scope in expected.items():
        operation = paths[path][method]
        assert operation["tags"] == ["pipes"]
        assert operation["security"] == [{"bearer": [scope]}, {"apiKey": [scope]}]
    write = paths[one + "/data"]["post"]
    body = write["requestBody"]["content"]["application/json"]["schema"]
    assert body["type"] == "array" and body["maxItems"] == 10_000
    assert body["items"]["required"] == ["timestamp"]
    assert [p["name"] for p in write["parameters"]] == ["connector_keys", "metric_key",
                                                       "location_key", "create"]
    read = paths[one + "/data"]["get"]
    assert {p["name"] for p in read["parameters"]} >= {"begin", "end", "limit"}
    assert "next" in read["responses"]["200"]["content"]["application/json"]["schema"][
        "properties"]
    created = paths["/pipes"]["post"]["responses"]["201"]["content"]["application/json"]
    assert created["schema"]["$ref"].endswith("/PipeDetail")
    assert doc["components"]["schemas"]["PipeCreate"]["required"] == ["connector_keys",
                                                                     "metric_key"]
