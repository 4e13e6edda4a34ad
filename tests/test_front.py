"""What the front (service.front, an aiohttp middleware) covers: every route, however and
whenever it was added, and every request no route matches, which still gets the JSON
error, a request id and an access line.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from service.app import create_app
from service.auth.scopes import requirement_of, requires
from service.metrics import UNMATCHED
from service.observability import ACCESS_LOGGER
from tests.support.wire import raw_exchange


async def leaked(request: web.Request) -> web.Response:
    return web.json_response({"leaked": True})


async def test_a_route_added_by_a_start_up_step_is_behind_the_front(aiohttp_client, settings):
    async def adds_a_route(app: web.Application) -> AsyncIterator[None]:
        app.router.add_get("/late", leaked)  # unannotated: nobody's to call
        yield

    app = create_app(settings)
    app.cleanup_ctx.append(adds_a_route)
    client = await aiohttp_client(app)
    resp = await client.get("/late")
    assert resp.status == 403
    assert (await resp.json())["error"] == "forbidden"
    assert resp.headers["X-Request-ID"]


async def test_a_route_added_by_a_later_start_up_step_is_behind_the_front(aiohttp_client,
                                                                           settings):
    async def adds_a_route(app: web.Application) -> None:
        app.router.add_get("/late", leaked)  # unannotated: nobody's to call

    app = create_app(settings)
    app.on_startup.append(adds_a_route)
    client = await aiohttp_client(app)
    resp = await client.get("/late")
    assert resp.status == 403
    assert (await resp.json())["error"] == "forbidden"
    assert resp.headers["X-Request-ID"]


async def test_a_sub_applications_routes_are_behind_the_front(aiohttp_client, settings):
    @requires("read:pipes")
    async def guarded(request: web.Request) -> web.Response:
        return web.json_response({"leaked": True})

    sub = web.Application()
    sub.router.add_get("/leak", leaked)
    sub.router.add_get("/guarded", guarded)
    app = create_app(settings)
    app.add_subapp("/sub", sub)
    client = await aiohttp_client(app)
    resp = await client.get("/sub/leak")
    assert resp.status == 403
    assert (await resp.json())["error"] == "forbidden"
    resp = await client.get("/sub/guarded")
    assert resp.status == 401
    assert (await resp.json())["error"] == "unauthorized"
    assert resp.headers["X-Request-ID"]
    resp = await client.get("/sub/no-such-thing")
    assert resp.status == 404
    assert (await resp.json())["error"] == "not_found"


async def test_handlers_keep_their_annotations_behind_the_front(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings))
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    me = (await resp.json())["paths"]["/users/me"]["get"]
    assert me["operationId"] == "get_me"
    assert {"bearer": []} in me["security"]


def request(request_line: str) -> bytes:
    """A request written as bytes: targets a client library would not send."""
    return f"{request_line}\r\nHost: x\r\nConnection: close\r\n\r\n".encode()


@pytest.mark.parametrize(("request_line", "status", "code"), [
    ("GET /no/such/thing HTTP/1.1", 404, "not_found"),
    ("GET //healthz HTTP/1.1", 404, "not_found"),
    ("GET /a%0Ab HTTP/1.1", 404, "not_found"),  # a newline in the decoded path
    ("OPTIONS * HTTP/1.1", 404, "not_found"),
    ("DELETE /healthz HTTP/1.1", 405, "method_not_allowed"),
    ("PROPFIND /users/me HTTP/1.1", 405, "method_not_allowed"),
])
async def test_a_request_no_route_matches_gets_the_json_error(aiohttp_client, make_settings,
                                                              request_line, status, code,
                                                              caplog):
    client = await aiohttp_client(create_app(make_settings(access_log=True)))
    with caplog.at_level("INFO", logger=ACCESS_LOGGER):
        answered, headers, body = await raw_exchange(client, request(request_line))
        await asyncio.sleep(0.05)  # the access line is written after the answer is sent
    assert answered == status
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"] == code
    if status == 405:
        assert headers["allow"]
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == ACCESS_LOGGER]
    assert [(line["status"], line["route"]) for line in lines] == [(status, UNMATCHED)]
    assert lines[0]["request_id"] == headers["x-request-id"]


@pytest.mark.parametrize("request_line", [
    "CONNECT example.com:443 HTTP/1.1",  # authority form
    "GET http://example.com HTTP/1.1",  # absolute form without a path
])
async def test_a_target_without_a_path_gets_the_json_404(aiohttp_client, settings,
                                                         request_line):
    client = await aiohttp_client(create_app(settings))
    status, headers, body = await raw_exchange(client, request(request_line))
    assert status == 404
    assert json.loads(body)["error"] == "not_found"
    assert headers["x-request-id"]


def _example_path(canonical: str) -> str:
    """A path that `canonical` matches: each {name} or {name:regex} filled in."""
    return re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", canonical)


async def test_every_route_of_a_started_app_is_behind_the_front(aiohttp_client, settings):
    # Routes from every place one can come from: create_app, a start-up step (on_startup
    # and cleanup_ctx) and a sub-application. Each protected or unannotated one, called
    # without a credential, is refused in the JSON shape with a request id.
    async def on_startup(app: web.Application) -> None:
        app.router.add_post("/late/startup", leaked)

    async def cleanup_ctx(app: web.Application) -> AsyncIterator[None]:
        app.router.add_delete("/late/ctx/{id}", leaked)
        yield

    sub = web.Application()
    sub.router.add_get("/leak", leaked)
    app = create_app(settings)
    app.on_startup.append(on_startup)
    app.cleanup_ctx.append(cleanup_ctx)
    app.add_subapp("/sub", sub)
    client = await aiohttp_client(app)

    walked: list[tuple[str, str, object]] = []
    for resource in app.router.resources():
        for route in resource:  # a sub-application's resource yields its routes, prefixed
            if route.method != "HEAD":
                walked.append((route.method, route.resource.canonical, route.handler))
    paths = {path for _, path, _ in walked}
    assert {"/late/startup", "/late/ctx/{id}", "/sub/leak", "/tokens/{id}"} <= paths

    checked = 0
    for method, path, handler in walked:
        requirement = requirement_of(handler)
        if requirement is not None and requirement.public:
            continue
        resp = await client.request("GET" if method == "*" else method, _example_path(path))
        body = await resp.json()
        expected = 403 if requirement is None else 401
        assert resp.status == expected, (method, path, body)
        assert body["error"] == ("forbidden" if requirement is None else "unauthorized")
        assert resp.headers["X-Request-ID"]
        checked += 1
    assert checked >= 20  # every protected route of the service, and the three added here
