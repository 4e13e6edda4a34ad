"""Bytes on the wire: oversized and malformed headers, non-UTF-8 credentials. Never a crash."""

from __future__ import annotations

import io

import pytest

from tests.support.wire import raw_request


def get(path: str, *headers: bytes) -> bytes:
    lines = [f"GET {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close",
             *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def assert_still_serving(client) -> None:
    assert (await client.get("/healthz")).status == 200


@pytest.mark.parametrize("request_bytes", [
    get("/healthz", b"X-Big: " + b"a" * 9000),  # one value past aiohttp's 8190 bytes
    get("/users/me", b"Authorization: Bearer " + b"a" * 20000),
    get("/healthz", b"X-" + b"n" * 9000 + b": 1"),  # a name past the limit
    get("/healthz", *[f"X-H{i}: v".encode() for i in range(300)]),  # too many headers
    get("/" + "p" * 9000),  # request line past the limit
])
async def test_oversized_headers_are_refused_with_400_or_431(client, request_bytes):
    status, _ = await raw_request(client, request_bytes)
    assert status in (400, 431)
    await assert_still_serving(client)


@pytest.mark.parametrize("request_bytes", [
    get("/healthz", b"No colon in this line"),
    get("/healthz", b"X-Null: a\x00b"),
    get("/healthz", b"X-CR: a\rb"),
    get("/healthz", b" Leading-Space: x"),
    get("/healthz", b"Content-Length: 5", b"Content-Length: 6"),
    get("/healthz", b"Content-Length: -1"),
    get("/healthz", b"Transfer-Encoding: chunked", b"Content-Length: 3"),
    b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
    b"\xff\xfe\xfd /healthz HTTP/1.1\r\n\r\n",
])
async def test_malformed_requests_are_refused_with_400(client, request_bytes):
    status, _ = await raw_request(client, request_bytes)
    assert status in (0, 400, 505)  # 0: hung up without an answer, which is also fine
    await assert_still_serving(client)


@pytest.mark.parametrize("credential", [
    b"mrsm-key:\xff\xfe\xfd",
    b"Bearer mrsm-key:\xc3\x28\xa0\xa1",
    b"Bearer \xff\xfe\xfd",
    b"Bearer eyJ\xe9.eyJ\xe9.\xe9",
    b"mrsm-key:" + b"\x80" * 150,
    b"\xc0\xaf\xc0\xaf",
    b"Basic \xff\xff",
])
async def test_non_utf8_credentials_are_401_not_500(client, credential):
    status, body = await raw_request(client, get("/users/me", b"Authorization: " + credential))
    assert status == 401, body
    assert b'"invalid_token"' in body or b'"unauthorized"' in body
    await assert_still_serving(client)


async def test_non_utf8_basic_credentials_at_login_are_401(client):
    form = b"grant_type=client_credentials"
    request = (b"POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               b"Authorization: Basic \xff\xfe\xfd\r\n"
               b"Content-Type: application/x-www-form-urlencoded\r\n"
               b"Content-Length: " + str(len(form)).encode() + b"\r\n\r\n" + form)
    status, body = await raw_request(client, request)
    assert status in (400, 401), body


async def test_a_non_utf8_form_at_login_is_400(client):
    form = b"grant_type=password&username=\xff\xfe&password=\xff"
    request = (b"POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               b"Content-Type: application/x-www-form-urlencoded\r\n"
               b"Content-Length: " + str(len(form)).encode() + b"\r\n\r\n" + form)
    status, body = await raw_request(client, request)
    assert status == 400, body


async def test_a_non_utf8_json_body_is_400(client, admin_headers):
    body = b'{"label": "\xff\xfe"}'
    resp = await client.post("/tokens", data=body,
                             headers={**admin_headers, "Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["error"] == "invalid_request"


async def test_non_utf8_in_the_path_and_query_is_not_a_500(client, admin_headers):
    auth = admin_headers["Authorization"].encode()
    for target in (b"/tokens/%ff%fe", b"/tokens?user=%ff%fe", b"/users/%c0%af",
                   b"/tokens/\xff"):
        status, body = await raw_request(client, b"GET " + target + b" HTTP/1.1\r\n"
                                         b"Host: x\r\nConnection: close\r\n"
                                         b"Authorization: " + auth + b"\r\n\r\n")
        assert status in (400, 404, 405, 422), (target, status, body)


async def test_a_body_over_one_mebibyte_is_413(client, admin_headers):
    resp = await client.post("/tokens", data=io.BytesIO(b"{" + b" " * (1024 * 1024) + b"}"),
                             headers={**admin_headers, "Content-Type": "application/json"})
    assert resp.status == 413
    assert (await resp.json())["error"] == "payload_too_large"
