"""The service's one middleware: every request passes through it, in this order.

1. A request id: the caller's X-Request-ID when acceptable, else a new one; it goes back on
   every answer (service.observability).
2. Authorization: the route's annotation enforced, the credential verified
   (service.auth.middleware: what a route asks is worked out on its first request,
   `route_facts`; the credential is checked by `authorize`); deny by default.
3. The handler.
4. Errors: whatever steps 2 and 3 raised becomes the one JSON error shape
   (service.errors.response_for); redirects pass through.
5. Metrics and the access line, for every answer, errors and cancelled requests included.

One middleware rather than one per concern: each aiohttp middleware layer costs a coroutine
and a call per request, and together they were a measurable part of a cached API-key
request (README, performance).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import istr

from service import errors, metrics
from service.auth.middleware import RouteFacts, authorize, not_open, route_facts
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

# An istr: headers are looked up by it without lower-casing the name on every request.
REQUEST_ID_HEADER = istr("X-Request-ID")


def front_middleware(settings: Settings) -> Callable[..., Awaitable[web.StreamResponse]]:
    write_line = access_logging(settings)
    known_routes: dict[web.AbstractRoute, RouteFacts] = {}

    @web.middleware
    async def front(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        route = route_facts(request.match_info, known_routes)
        principal: Principal | None = None
        status = 500  # unless something below says otherwise
        try:
            try:
                if route.requirement is not None:
                    principal = await authorize(request, route.requirement)
                elif route.closed:
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
            metrics.observe_request(request.method, route.label, status, elapsed)
            if principal is not None:
                accepted = AUTH_OK.get(principal.kind)
                if accepted is not None:
                    accepted.value += 1
            elif status in (401, 429) and route.requirement is not None:
                count_refusal(request, status)
            if write_line is not None and access_logger.isEnabledFor(logging.INFO):
                write_line(access_line(request, principal, route.label, status, elapsed,
                                       request_id))

    return front
