"""A black-box review's findings: ambiguous headers and bodies, depth, disclosure, and the
console's errors. Each is refused by one mechanism that every route goes through."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime

import pytest
from multidict import CIMultiDict

from service.console.routes import SECURITY_HEADERS
from service.validation import MAX_JSON_DEPTH
from tests.support.assertions import assert_error

JSON = {"Content-Type": "application/json"}
PIPE = "/pipes/sql:main/review/lab"
DATA = PIPE + "/data"
ROW_TS = "2024-01-01T00:00:00Z"


def nested(depth: int, leaf=1):
    """A value `depth` levels deep: nested(1) == [1]."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def nested_text(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


@pytest.fixture
async def pipe(client, admin_headers):
    resp = await client.post("/pipes", json={"connector_keys": "sql:main",
                                             "metric_key": "review", "location_key": "lab"},
                             headers=admin_headers)
    assert resp.status == 201, await resp.text()
    return admin_headers


# --- two Authorization headers ----------------------------------------------------------


async def test_two_authorization_headers_are_400_before_any_credential_is_checked(
        client, admin_headers):
    good = admin_headers["Authorization"]
    for pair in ((good, good), (good, "Bearer nonsense"), ("Bearer nonsense", good), ("", good)):
        headers = CIMultiDict([("Authorization", pair[0]), ("Authorization", pair[1])])
        resp = await client.get("/users/me", headers=headers)
        body = await assert_error(resp, 400, "invalid_request")
        assert "Authorization" in body["error_description"]
        assert "WWW-Authenticate" not in resp.headers
    assert (await client.get("/users/me", headers=admin_headers)).status == 200


async def test_two_authorization_headers_on_login_are_400(client):
    basic = "Basic " + "eDp5"  # x:y
    headers = CIMultiDict([("Authorization", basic), ("Authorization", basic),
                           ("Content-Type", "application/x-www-form-urlencoded")])
    resp = await client.post("/login", data="grant_type=client_credentials", headers=headers)
    await assert_error(resp, 400, "invalid_request")


async def test_two_authorization_headers_on_an_unmatched_route_are_still_404(client):
    headers = CIMultiDict([("Authorization", "a"), ("Authorization", "b")])
    await assert_error(await client.get("/nothing-here", headers=headers), 404)


# --- duplicate keys in JSON bodies ------------------------------------------------------


@pytest.mark.parametrize("raw, key", [
    (b'{"label": "a", "label": "b"}', "label"),
    (b'{"label": "a", "scopes": ["read:pipes"], "scopes": ["write:pipes"]}', "scopes"),
    (b'{"label": "a", "x": {"k": 1, "k": 2}}', "k"),  # nested objects too
])
async def test_duplicate_keys_are_400_naming_the_key(client, admin_headers, raw, key):
    resp = await client.post("/tokens", data=raw, headers={**admin_headers, **JSON})
    body = await assert_error(resp, 400, "invalid_request")
    assert json.dumps(key) in body["error_description"]
    assert "fields" not in body  # only 422s carry fields


async def test_duplicate_keys_in_rows_and_parameters_are_400(client, pipe):
    raw = ('[{"timestamp": "' + ROW_TS + '", "v": 1, "v": 2}]').encode()
    body = await assert_error(await client.post(DATA, data=raw, headers={**pipe, **JSON}), 400)
    assert '"v"' in body["error_description"]
    raw = b'{"parameters": {"deep": {"a": 1, "a": 2}}}'
    body = await assert_error(await client.patch(PIPE, data=raw, headers={**pipe, **JSON}), 400)
    assert '"a"' in body["error_description"]


# --- depth ---------------------------------------------------------------------------


async def test_a_row_at_the_depth_limit_reads_back_as_json_and_csv(client, pipe):
    # The body is level 1, the row 2, its "v" holds the rest.
    value = nested(MAX_JSON_DEPTH - 2, "leaf")
    rows = [{"timestamp": ROW_TS, "v": value}]
    resp = await client.post(DATA, json=rows, headers=pipe)
    assert resp.status == 200, await resp.text()
    resp = await client.get(DATA, headers=pipe)
    assert resp.status == 200
    assert (await resp.json())["items"][0]["v"] == value
    resp = await client.get(DATA, headers={**pipe, "Accept": "text/csv"})
    assert resp.status == 200
    [line] = list(csv.DictReader(io.StringIO(await resp.text())))
    assert json.loads(line["v"]) == value


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH - 1, 500, 980, 5000, 200_000])
async def test_a_row_past_the_depth_limit_is_422_naming_its_index(client, pipe, depth):
    ok = '{"timestamp": "2024-01-01T01:00:00Z", "v": 1}'
    deep = nested_text(depth, '"\\u0000"')
    raw = f'[{ok}, {{"timestamp": "{ROW_TS}", "v": {deep}}}]'
    resp = await client.post(DATA, data=raw.encode(), headers={**pipe, **JSON})
    body = await assert_error(resp, 422, "validation_error")
    assert body["fields"] == {"1": [f"nested deeper than {MAX_JSON_DEPTH} levels"]}
    assert (await (await client.get(DATA, headers=pipe)).json())["items"] == []


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 980, 5000])
async def test_parameters_past_the_depth_limit_are_422_naming_the_field(client, pipe, depth):
    raw = '{"parameters": %s}' % ('{"a": ' * depth + "1" + "}" * depth)
    for method, path in (("PATCH", PIPE), ("POST", "/pipes")):
        resp = await client.request(method, path, data=raw.encode(), headers={**pipe, **JSON})
        body = await assert_error(resp, 422, "validation_error")
        assert body["fields"] == {"parameters": [f"nested deeper than {MAX_JSON_DEPTH} levels"]}


async def test_a_deep_nul_within_the_limit_is_422_not_500(client, pipe):
    rows = [{"timestamp": ROW_TS, "v": nested(MAX_JSON_DEPTH - 2, "a\x00b")}]
    body = await assert_error(await client.post(DATA, json=rows, headers=pipe), 422)
    assert list(body["fields"]) == ["0"]


async def test_unbalanced_deep_brackets_stay_invalid_json(client, pipe):
    for raw in (b"[" * 100_000, b'{"parameters": ' + b"[" * 5000 + b"}"):
        resp = await client.patch(PIPE, data=raw, headers={**pipe, **JSON})
        await assert_error(resp, 400, "invalid_request")


async def test_a_body_of_many_shallow_containers_is_accepted(client, pipe):
    rows = [{"timestamp": f"2024-01-02T00:00:{s:02d}Z", "v": [[1], {"a": [2]}]}
            for s in range(60)]
    assert (await client.post(DATA, json=rows, headers=pipe)).status == 200


# --- no version in any header ---------------------------------------------------------


async def test_no_response_header_names_a_version(client, admin_headers):
    version = re.compile(r"\d+\.\d+")
    answers = [
        await client.get("/healthz"),
        await client.get("/users/me", headers=admin_headers),
        await client.get("/users/me"),  # 401
        await client.get("/nothing-here"),  # 404, unmatched
        await client.delete("/healthz"),  # 405
        await client.get("/", allow_redirects=False),  # 302
        await client.get("/console"),
        await client.post("/tokens", data=b"{", headers={**admin_headers, **JSON}),  # 400
    ]
    for resp in answers:
        assert resp.headers.get("Server") == "mrsm-tokens", (resp.status, resp.headers)
        for name, value in resp.headers.items():
            if name.lower() not in ("date", "content-length", "x-request-id", "etag",
                                    "last-modified", "content-security-policy"):
                assert not version.search(value), (resp.status, name, value)


# --- the console's headers on its errors ------------------------------------------------


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/console/nope.js", 404),
    ("GET", "/console/nope", 404),
    ("GET", "/console/a/b/c", 404),
    ("POST", "/console", 405),
    ("DELETE", "/console/app.js", 405),
    ("GET", "/console", 200),
    ("GET", "/console/app.js", 200),
])
async def test_every_console_answer_carries_its_security_headers(client, method, path, status):
    resp = await client.request(method, path, allow_redirects=False)
    assert resp.status == status
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get(name) == value, (path, name)


async def test_api_errors_outside_the_console_do_not_get_its_headers(client):
    resp = await client.get("/consolex")
    assert resp.status == 404
    assert "Content-Security-Policy" not in resp.headers


async def test_rows_stored_deep_before_the_limit_still_export_as_csv(client, pipe,
                                                                      database_url):
    """A row nested ~980 levels deep, written before bodies were limited, broke every CSV
    read of its pipe (a 500); it is exported, its deep value as its JSON text."""
    import asyncpg

    deep = nested_text(980)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO pipe_rows (pipe_id, ts, \"values\") SELECT id, $1, $2::jsonb "
            "FROM pipes WHERE metric_key = 'review'",
            datetime(2024, 1, 1, tzinfo=UTC), '{"v": ' + deep + ', "w": "x, \\"y\\"", "n": 1}')
    finally:
        await conn.close()
    resp = await client.get(DATA, headers={**pipe, "Accept": "text/csv"})
    assert resp.status == 200, await resp.text()
    [line] = list(csv.DictReader(io.StringIO(await resp.text())))
    assert line["v"].replace(" ", "") == deep
    assert (line["w"], line["n"]) == ('x, "y"', "1")
    resp = await client.get(DATA, headers=pipe)
    assert resp.status == 200
