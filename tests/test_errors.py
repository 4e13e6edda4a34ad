"""The one JSON error shape: bad bodies, content types, sizes, unknown routes and methods."""

from __future__ import annotations

import gzip
import io

import pytest

from tests.support.assertions import (
    assert_error,
)

JSON = {"Content-Type": "application/json"}
MIB = 1024 * 1024


@pytest.fixture
async def routes_with_bodies(api, user_headers, admin_headers):
    """(method, path, headers) of every JSON-body route of issue 2, with a credential."""
    token = await api.create_token(user_headers)
    return [
        ("POST", "/users", admin_headers),
        ("PATCH", "/users/alice", admin_headers),
        ("PATCH", "/users/me", user_headers),
        ("POST", "/tokens", user_headers),
        ("PATCH", f"/tokens/{token['id']}", user_headers),
    ]


MALFORMED = [
    b"{", b"{'label': 'x'}", b'{"label": "x",}', b"not json", b"", b'{"a": 1} trailing',
    b"\xff\xfe\x00", b'{"label": "\xff"}',
    b"[" * 100_000,  # nesting past the recursion limit
    b'{"label": ' + b"9" * 5000 + b"}",  # past Python's 4300-digit integer limit
]


async def test_malformed_json_is_400(api, routes_with_bodies):
    for raw in MALFORMED:
        for method, path, headers in routes_with_bodies:
            resp = await api.client.request(method, path, data=raw,
                                            headers={**headers, **JSON})
            body = await assert_error(resp, 400, "invalid_request")
            assert "JSON" in body["error_description"], (method, path, raw[:20])


async def test_json_that_is_not_an_object_is_422(api, routes_with_bodies):
    for raw in (b"null", b"[]", b'"text"', b"42", b"true"):
        for method, path, headers in routes_with_bodies:
            resp = await api.client.request(method, path, data=raw,
                                            headers={**headers, **JSON})
            await assert_error(resp, 422, "validation_error")


async def test_wrong_content_type_is_415(api, routes_with_bodies):
    for content_type in ("text/plain", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x", "application/xml",
                         "application/json-patch+json"):
        for method, path, headers in routes_with_bodies:
            resp = await api.client.request(method, path, data=b'{"label": "x"}',
                                            headers={**headers, "Content-Type": content_type})
            await assert_error(resp, 415, "unsupported_media_type")


async def test_missing_content_type_is_415(api, user_headers):
    resp = await api.client.post("/tokens", data=b'{"label": "x"}',
                                 headers={**user_headers, "Content-Type": ""})
    await assert_error(resp, 415, "unsupported_media_type")


async def test_json_with_charset_is_accepted(api, user_headers):
    resp = await api.client.post("/tokens", data=b'{"label": "x"}',
                                 headers={**user_headers,
                                          "Content-Type": "application/json; charset=utf-8"})
    assert resp.status == 201


async def test_body_over_one_mib_is_413(api, routes_with_bodies, user_headers):
    big = b'{"label": "' + b"x" * MIB + b'"}'
    for method, path, headers in routes_with_bodies:
        resp = await api.client.request(method, path, data=io.BytesIO(big),
                                        headers={**headers, **JSON})
        body = await assert_error(resp, 413, "payload_too_large")
        assert "1 MiB" in body["error_description"]
    # Just under the limit is read (and refused on its merits).
    fits = b'{"label": "' + b"x" * (MIB - 100) + b'"}'
    resp = await api.client.post("/tokens", data=io.BytesIO(fits),
                                 headers={**user_headers, **JSON})
    assert "label" in (await assert_error(resp, 422))["fields"]


async def test_unknown_route_is_404_with_or_without_credential(api, user_headers):
    for path in ("/nope", "/tokens/", "/users/alice/tokens", "/login/x",
                 "/tokens/abc/invalidate/now", "/%00", "/" + "a" * 2000):
        for headers in ({}, user_headers, {"Authorization": "Bearer garbage"},
                        {"Authorization": "Basic Zm9vOmJhcg=="}):
            resp = await api.client.get(path, headers=headers)
            await assert_error(resp, 404, "not_found")
            assert "WWW-Authenticate" not in resp.headers


WRONG_METHODS = [
    ("PUT", "/tokens", {"GET", "POST"}),
    ("DELETE", "/tokens", {"GET", "POST"}),
    ("GET", "/tokens/00000000-0000-4000-8000-000000000000/invalidate", {"POST"}),
    ("POST", "/users/me", {"GET", "PATCH"}),
    ("PUT", "/healthz", {"GET"}),
    ("DELETE", "/login", {"POST"}),
]


async def test_wrong_method_is_405(api, user_headers):
    for method, path, allowed in WRONG_METHODS:
        for headers in ({}, user_headers, {"Authorization": "Bearer garbage"}):
            resp = await api.client.request(method, path, headers=headers)
            body = await assert_error(resp, 405, "method_not_allowed")
            assert allowed <= {m.strip() for m in resp.headers["Allow"].split(",")}
            assert method in body["error_description"]


async def test_validation_errors_name_each_field(api, user_headers):
    resp = await api.client.post("/tokens", headers=user_headers,
                                 json={"label": "", "expiration": "soon", "scopes": ["x"],
                                       "extra": 1})
    body = await assert_error(resp, 422, "validation_error")
    assert set(body["fields"]) == {"label", "expiration", "scopes", "extra"}
    for messages in body["fields"].values():
        assert messages


async def test_errors_are_never_html(api, user_headers):
    answers = [
        await api.client.get("/nope"),
        await api.client.put("/tokens", headers=user_headers),
        await api.client.post("/tokens", data=b"{", headers={**user_headers, **JSON}),
        await api.client.get("/tokens"),
        await api.client.get("/users", headers=user_headers),
    ]
    for resp in answers:
        assert resp.content_type == "application/json"
        text = await resp.text()
        assert "<html" not in text.lower() and "Traceback" not in text


async def test_gzip_bodies(api, user_headers):
    zipped = gzip.compress(b'{"label": "zipped"}')
    resp = await api.client.post("/tokens", data=zipped,
                                 headers={**user_headers, **JSON, "Content-Encoding": "gzip"})
    assert resp.status == 201 and (await resp.json())["label"] == "zipped"
    # A body that is not what its Content-Encoding says cannot be read: a 400, not a 500.
    # (aiohttp then closes the connection, since it cannot tell where the body ends.)
    for encoding in ("gzip", "deflate"):
        resp = await api.client.post("/tokens", data=b"not compressed at all",
                                     headers={**user_headers, **JSON, "Connection": "close",
                                              "Content-Encoding": encoding})
        await assert_error(resp, 400, "invalid_request")
    resp = await api.client.post("/login", data=b"grant_type=password",
                                 headers={"Content-Type": "application/x-www-form-urlencoded",
                                          "Content-Encoding": "gzip", "Connection": "close"})
    await assert_error(resp, 400, "invalid_request")
    # A compressed body is limited to 1 MiB once decompressed (no zip bombs).
    bomb = gzip.compress(b'{"label": "' + b"x" * (5 * MIB) + b'"}')
    assert len(bomb) < 10_000
    resp = await api.client.post("/tokens", data=bomb,
                                 headers={**user_headers, **JSON, "Content-Encoding": "gzip",
                                          "Connection": "close"})
    await assert_error(resp, 413, "payload_too_large")
