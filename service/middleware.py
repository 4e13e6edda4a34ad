"""The service's front: every request passes through it, in this order.

1. A request id: the caller's X-Request-ID when acceptable, else a new one; it goes back on
   every answer (service.observability).
2. Authorization: the route's annotation enforced, the credential verified
   (service.auth.middleware: what a route asks is worked out once, at start-up,
   `route_facts`; the credential is checked by `authorize`); deny by default.
3. The handler.
4. Errors: whatever steps 2 and 3 raised becomes the one JSON error shape
   (service.errors.response_for); redirects pass through.
5. Metrics and the access line, for every answer, errors and cancelled requests included.

It is put before each route's handler when the app starts (`install`), not registered as an
aiohttp middleware. Any aiohttp middleware costs two extra coroutine layers per request (aiohttp
adds its own `_fix_request_current_app` beside it) and a cache lookup: about 14,500
instructions counted, 6 % of a cached API-key request (README, Performance). Wrapping each
handler costs one layer (under 1,000), and the route's facts are bound to it instead of
looked up.

What keeps deny by default whole:
- the wrapping is the app's last start-up step (it refuses to start otherwise), and aiohttp
  freezes the router right after start-up: no route can be added unwrapped;
- a request no route matches lands on a catch-all route added by the same step, whose
  handler raises the 404 or 405 aiohttp would have, so those leave as the same JSON, with a
  request id, a metric and an access line (a target with no path at all, `CONNECT
  host:port`, never reaches a route: aiohttp answers it, README, Errors);
- sub-applications, whose routes live in another router, are refused at start-up.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import istr

from service import errors, metrics
from service.auth.middleware import NO_ROUTE, RouteFacts, authorize, not_open, route_facts
from service.auth.principal import Principal
from service.config import Settings
from service.observability import (
    AUTH_OK,
    access_line,
    access_logger,
    access_logging,
    count_refusal,
    request_id_from,
)

if TYPE_CHECKING:
    from yarl import URL

# An istr: headers are looked up by it without lower-casing the name on every request.
REQUEST_ID_HEADER = istr("X-Request-ID")


def install(app: web.Application, settings: Settings) -> None:
    """Put the front before every route of `app` when it starts: call it once every
    start-up step is registered (service.app.create_app does, last)."""
    write_line = access_logging(settings)

    async def put_front(app: web.Application) -> None:
        if any(isinstance(r, web.PrefixedSubAppResource) for r in app.router.resources()):
            raise RuntimeError("sub-applications are not supported: their routes would "
                               "not pass through the front")
        if app.on_startup[-1] is not put_front:
            # A later step could add a route the front would not cover.
            raise RuntimeError("the front must be the last start-up step: a step after it "
                               "could add a route that nothing authorizes")
        anything = Anything()
        app.router.register_resource(anything)
        catch_all = anything.add_route("*", no_route)
        for route in app.router.routes():
            facts = NO_ROUTE if route is catch_all else route_facts(route)
            # aiohttp has no public setter; the router is frozen right after this step.
            route._handler = front(route.handler, facts, write_line)  # noqa: SLF001

    app.on_startup.append(put_front)


class Anything(web.Resource):
    """The catch-all resource: every path the router gets to without a match (indexed
    under "/", which its walk up a path always reaches, after the resources there)."""

    @property
    def canonical(self) -> str:
        return "/"

    def _match(self, path: str) -> dict[str, str]:
        return {}

    def raw_match(self, path: str) -> bool:
        return False

    def get_info(self) -> dict:
        return {"catch_all": True}

    def url_for(self, **kwargs: str) -> URL:
        raise RuntimeError("the catch-all resource has no URL")

    def add_prefix(self, prefix: str) -> None:
        raise RuntimeError("the catch-all resource takes no prefix")


async def no_route(request: web.Request) -> web.StreamResponse:
    """The catch-all route's handler: the 405 or 404 aiohttp's router would have raised."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is not request.match_info.route.resource:
            allowed |= (await resource.resolve(request))[1]
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()


def front(handler: Handler, route: RouteFacts,
          write_line: Callable[[str], None] | None) -> Handler:
    """`handler` behind the front, for a route whose facts are `route`."""
    label, requirement, closed = route.label, route.requirement, route.closed

    @functools.wraps(handler)
    async def fronted(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        principal: Principal | None = None
        status = 500  # unless something below says otherwise
        try:
            try:
                if requirement is not None:
                    principal = await authorize(request, requirement)
                elif closed:
                    raise not_open()
                response = await handler(request)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a JSON answer
                if isinstance(exc, web.HTTPException) and exc.status < 400:
                    status = exc.status  # a redirect: aiohttp sends it as it is
                    exc.headers[REQUEST_ID_HEADER] = request_id
                    raise
                response = errors.response_for(exc, request_id)
            status = response.status
            if not response.prepared:
                response.headers[REQUEST_ID_HEADER] = request_id
            return response
        except asyncio.CancelledError:  # the client went away before the answer
            status = 499
            raise
        finally:
            elapsed = time.perf_counter() - started
            metrics.observe_request(request.method, label, status, elapsed)
            if principal is not None:
                accepted = AUTH_OK.get(principal.kind)
                if accepted is not None:
                    accepted.value += 1
            elif status in (401, 429) and requirement is not None:
                count_refusal(request, status)
            if write_line is not None and access_logger.isEnabledFor(logging.INFO):
                write_line(access_line(request, principal, label, status, elapsed,
                                       request_id))

    return fronted
