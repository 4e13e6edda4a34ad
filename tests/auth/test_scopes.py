"""Every route declares what it needs; a route that declares nothing is refused."""

from aiohttp import web

from service.app import create_app
from service.auth.scopes import ALL_SCOPES, requirement_of
from service.openapi import DOC_ATTR


def _routes(app: web.Application):
    return [r for r in app.router.routes() if r.method != "HEAD"]


def test_every_route_is_annotated(settings):
    app = create_app(settings)
    missing = [f"{r.method} {r.resource.canonical}" for r in _routes(app)
               if requirement_of(r.handler) is None]
    assert missing == []


def test_every_annotation_names_known_scopes(settings):
    app = create_app(settings)
    for route in _routes(app):
        requirement = requirement_of(route.handler)
        assert requirement.scopes <= ALL_SCOPES, route


def test_every_route_is_documented(settings):
    app = create_app(settings)
    undocumented = [f"{r.method} {r.resource.canonical}" for r in _routes(app)
                    if getattr(r.handler, DOC_ATTR, None) is None]
    assert undocumented == []


async def test_an_unannotated_route_is_refused_even_with_a_good_credential(
    aiohttp_client, settings, api
):
    async def forgotten(request: web.Request) -> web.Response:
        return web.json_response({"leaked": True})

    app = create_app(settings)
    app.router.add_get("/forgotten", forgotten)
    client = await aiohttp_client(app)
    api.client = client
    await api.create_user("root", "root-password-1", type_="admin")
    headers = await api.bearer("root", "root-password-1")
    for h in ({}, headers):
        resp = await client.get("/forgotten", headers=h)
        assert resp.status == 403
        assert (await resp.json())["error"] == "forbidden"
