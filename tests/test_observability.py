"""Request ids and the one structured log line per request."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from contextlib import contextmanager

import pytest

from service.app import create_app
from service.logs import BatchingHandler, JsonFormatter, MalformedRequestFilter
from service.observability import ACCESS_LOGGER, request_id_from
from tests.support.api import ADMIN_PASSWORD


@pytest.fixture
async def logged_client(aiohttp_client, make_settings):
    """The app with ACCESS_LOG on (the test settings turn it off)."""
    return await aiohttp_client(create_app(make_settings(access_log=True)))


def access_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == ACCESS_LOGGER]


def access_lines(caplog) -> list[dict]:
    """The access lines, parsed (outside the service's own logging set-up, each line is
    the message of a record of the access logger)."""
    return [json.loads(r.getMessage()) for r in access_records(caplog)]


async def admin_and_token(api, logged_client, label: str) -> tuple[dict, dict]:
    """An admin's bearer headers and a new token of theirs, through the logged app."""
    await api.create_user("admin", ADMIN_PASSWORD, type_="admin")
    api.client = logged_client
    headers = await api.bearer("admin", ADMIN_PASSWORD)
    return headers, await api.create_token(headers, label=label)


async def test_a_request_id_is_generated_and_returned(client):
    first = await client.get("/healthz")
    second = await client.get("/healthz")
    assert first.headers["X-Request-ID"]
    assert second.headers["X-Request-ID"] != first.headers["X-Request-ID"]


async def test_the_callers_request_id_is_kept(client):
    resp = await client.get("/healthz", headers={"X-Request-ID": "req-42:abc/def"})
    assert resp.headers["X-Request-ID"] == "req-42:abc/def"


@pytest.mark.parametrize("bad", ["x" * 129, "has space", "tab\there", "é-accent", ""])
async def test_an_unacceptable_request_id_is_replaced(client, bad):
    resp = await client.get("/healthz", headers={"X-Request-ID": bad})
    assert resp.status == 200
    assert resp.headers["X-Request-ID"] not in (bad, "")
    assert request_id_from(bad) != bad


async def test_errors_carry_the_request_id_too(client):
    resp = await client.get("/tokens", headers={"X-Request-ID": "err-1"})
    assert resp.status == 401
    assert resp.headers["X-Request-ID"] == "err-1"
    resp = await client.get("/no/such/path", headers={"X-Request-ID": "err-2"})
    assert resp.status == 404
    assert resp.headers["X-Request-ID"] == "err-2"


async def test_one_log_line_per_request_with_the_documented_fields(logged_client, api, caplog):
    headers, token = await admin_and_token(api, logged_client, "logged")
    caplog.clear()
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    resp = await logged_client.get(f"/tokens/{token['id']}?limit=5&secret=hunter2",
                                   headers={**headers, "X-Request-ID": "trace-7"})
    assert resp.status == 200
    lines = access_lines(caplog)
    assert len(lines) == 1
    fields = lines[0]
    assert (fields["level"], fields["logger"]) == ("INFO", ACCESS_LOGGER)
    assert fields["message"] == "GET /tokens/{id} 200"
    assert fields["method"] == "GET"
    assert fields["route"] == "/tokens/{id}"
    assert fields["path"] == f"/tokens/{token['id']}"  # never the query string
    assert fields["status"] == 200
    assert isinstance(fields["duration_ms"], float) and fields["duration_ms"] >= 0
    assert fields["request_id"] == "trace-7"
    assert fields["user_id"]  # the admin's id
    assert fields["token_id"] is None  # a password bearer carries no token
    assert fields["remote"] == "127.0.0.1"


async def test_the_log_line_never_holds_a_credential(logged_client, api, caplog):
    headers, token = await admin_and_token(api, logged_client, "secretive")
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    key_headers = {"Authorization": token["api_key"]}
    assert (await logged_client.get("/users/me", headers=key_headers)).status == 200
    assert (await logged_client.get("/users/me", headers=headers)).status == 200
    resp = await logged_client.post("/login", data={"grant_type": "password",
                                                    "username": "admin",
                                                    "password": ADMIN_PASSWORD})
    assert resp.status == 200
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records]
    access = access_lines(caplog)
    assert len(access) == 3
    assert access[0]["token_id"] == token["id"]  # the API key's token is named, not its secret
    text = "\n".join(lines)
    for secret in (token["secret"], token["api_key"], headers["Authorization"].split()[1],
                   ADMIN_PASSWORD, "Authorization"):
        assert secret not in text


@contextmanager
def service_logging():
    """The root logger as `python -m service` sets it up (one JSON BatchingHandler), on a
    string; pytest's own handlers are put back at the end."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    handler = BatchingHandler(stream)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        yield handler, stream
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


async def test_the_access_line_joins_the_json_log_as_one_escaped_line(aiohttp_client,
                                                                      make_settings):
    with service_logging() as (handler, stream):
        client = await aiohttp_client(create_app(make_settings(access_log=True)))
        hostile_id = 'a"b\\c}{'
        resp = await client.get('/no/"such"/p%0Ath%5C\u00e9',
                                headers={"X-Request-ID": hostile_id})
        assert resp.status == 404
        logging.getLogger("service.test").info("after")
        handler.flush()
    lines = [json.loads(text) for text in stream.getvalue().splitlines()]
    lines = [line for line in lines if line["logger"] in (ACCESS_LOGGER, "service.test")]
    assert len(lines) == 2  # one per request, in order with the other records
    line = lines[0]
    assert line["path"] == '/no/"such"/p\nth\\\u00e9'
    assert line["request_id"] == hostile_id
    assert (line["status"], line["route"], line["user_id"]) == (404, "(unmatched)", None)
    # The same keys, in the same order, as every other line of the log.
    record = logging.LogRecord(ACCESS_LOGGER, logging.INFO, "", 0, line["message"], None, None)
    record.created = 0.0
    record.fields = {k: v for k, v in line.items()
                     if k not in ("time", "level", "logger", "message")}
    expected = json.loads(JsonFormatter().format(record))
    assert list(line) == list(expected)
    assert {**line, "time": expected["time"]} == expected
    assert lines[1]["message"] == "after"


async def test_no_log_line_when_access_log_is_off(client, caplog):
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    assert (await client.get("/healthz")).status == 200
    assert access_records(caplog) == []


@pytest.fixture
def malformed_filter():
    server_log = logging.getLogger("aiohttp.server")
    installed = MalformedRequestFilter()
    server_log.addFilter(installed)
    yield
    server_log.removeFilter(installed)


async def test_a_malformed_request_logs_one_warning_without_its_bytes(client, caplog,
                                                                      malformed_filter):
    caplog.set_level(logging.DEBUG, logger="aiohttp.server")
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cr3t\x00x\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.split(b"\r\n")[0].endswith(b" 400 Bad Request")
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert len(records) == 1
    record = records[0]
    assert record.levelname == "WARNING" and record.exc_info is None
    line = JsonFormatter().format(record)
    assert "malformed request refused: 400 BadHttpMessage" in line
    assert "s3cr3t" not in line and "Traceback" not in line
