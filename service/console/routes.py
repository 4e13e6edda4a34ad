"""/console: the web console's page and assets, and `/` redirecting there.

The console is a page, its style sheets and its plain JavaScript modules (and uPlot,
vendored under vendor/), which talk to the JSON API like any other client; nothing here
touches the database. Files are served from an allow-list
(a name is looked up, never joined onto a path), so no request can reach any
other file in the package, such as this one. The handlers are public: the page
itself holds no data, and every API call it makes carries the person's JWT.

The routes are in /openapi.json under the tag "console" so that the document
lists every route the service answers.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from service.auth.scopes import public
from service.errors import not_found
from service.openapi import doc

routes = web.RouteTableDef()

HERE = Path(__file__).resolve().parent

# Served name -> content type. Anything not listed is a 404.
_JS = "text/javascript; charset=utf-8"
_CSS_TYPE = "text/css; charset=utf-8"
_MODULES = ("app", "api", "audit", "chart", "dialogs", "format", "menu", "pager", "pipe-limit",
            "pipes", "rotate", "tokens", "ui", "users")
ASSETS: dict[str, str] = {
    "app.css": _CSS_TYPE,
    **{f"{name}.js": _JS for name in _MODULES},
    "uPlot.iife.min.js": _JS,
    "uPlot.min.css": _CSS_TYPE,
}
# Third-party files, kept apart with their license and version (vendor/README.md).
VENDORED = {"uPlot.iife.min.js": "vendor/uPlot.iife.min.js",
            "uPlot.min.css": "vendor/uPlot.min.css"}


def path_of(name: str) -> Path:
    """The file an allowed served name stands for."""
    return HERE / VENDORED.get(name, name)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

# Revalidate every time (ETag / Last-Modified make that cheap) so an upgrade is seen at once.
_CACHE = {"Cache-Control": "no-cache"}

_HTML = {200: ("text/html", {"type": "string"})}
_CSS = ("text/css", {"type": "string"})
_JS_DOC = ("text/javascript", {"type": "string"})
_MODULE = {"module": {"type": "string",
                      "enum": sorted(n.removesuffix(".js") for n in ASSETS if n.endswith(".js"))}}
_SHEET = {"sheet": {"type": "string",
                    "enum": sorted(n.removesuffix(".css") for n in ASSETS if n.endswith(".css"))}}


def _file(name: str, content_type: str) -> web.FileResponse:
    return web.FileResponse(path_of(name),
                            headers={**SECURITY_HEADERS, **_CACHE, "Content-Type": content_type})


@routes.get("/")
@public
@doc("Redirect to the web console", tag="console", responses={302: None})
async def root(request: web.Request) -> web.Response:
    raise web.HTTPFound(location="/console", headers=SECURITY_HEADERS)


@routes.get("/console/")
@public
@doc("Redirect to the web console", tag="console", responses={302: None})
async def console_slash(request: web.Request) -> web.Response:
    raise web.HTTPFound(location="/console", headers=SECURITY_HEADERS)


@routes.get("/console")
@public
@doc("The web console (tokens, users, audit, pipes), an HTML page", tag="console", responses=_HTML)
async def console_page(request: web.Request) -> web.FileResponse:
    return _file("index.html", "text/html; charset=utf-8")


@routes.get("/console/{sheet}.css")
@public
@doc("One of the web console's style sheets", tag="console", responses={200: _CSS},
     path_params=_SHEET)
async def console_css(request: web.Request) -> web.FileResponse:
    name = f"{request.match_info['sheet']}.css"
    if name not in ASSETS:
        raise not_found("console file")
    return _file(name, ASSETS[name])


@routes.get("/console/{module}.js")
@public
@doc("One of the web console's JavaScript modules", tag="console", responses={200: _JS_DOC},
     path_params=_MODULE)
async def console_js(request: web.Request) -> web.FileResponse:
    name = f"{request.match_info['module']}.js"
    if name not in ASSETS:
        raise not_found("console file")
    return _file(name, ASSETS[name])
