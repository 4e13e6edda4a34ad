"""Request ids, one structured log line per request, and the per-request metrics.

The middleware is the outermost one, so it sees every answer, errors included, and
times the whole of the request. What it logs per request is fixed: method, route,
path (never the query string), status, duration, client address, principal ids and the
request id. Headers are never logged, so neither is `Authorization`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from service import keys, metrics
from service.auth.scopes import requirement_of
from service.config import Settings

ACCESS_LOGGER = "service.access"
_access = logging.getLogger(ACCESS_LOGGER)

# A caller's id is kept when short and plainly printable (no spaces, quotes are escaped by
# JSON anyway); anything else is replaced, so the log cannot be fed arbitrary text.
_REQUEST_ID = re.compile(r"[!-~]{1,128}")
# Generated ids: a random per-process prefix and a counter. Unique, and cheaper than a
# UUID per request (no system call); they need not be unpredictable.
_PREFIX = os.urandom(4).hex()
_counter = itertools.count(1)
_MAX_PATH = 256


def new_request_id() -> str:
    return f"{_PREFIX}-{next(_counter):x}"


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when acceptable, else a new one."""
    if header is not None and _REQUEST_ID.fullmatch(header):
        return header
    return new_request_id()


def _route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else metrics.UNMATCHED


def _auth_kind(header: str) -> str:
    # Same test as the auth middleware's split_authorization, without parsing the secret.
    value = header.lstrip()
    if value[:6].lower() == "bearer":
        value = value[6:].lstrip()
    return "api_key" if value[:9].lower() == "mrsm-key:" else "jwt"


def _count_auth(request: web.Request, status: int) -> None:
    """Bearer and API-key results, read off the outcome (/login counts its own grants)."""
    principal = request.get(keys.PRINCIPAL)
    if principal is not None:
        if principal.kind in ("api_key", "jwt"):
            metrics.record_auth(principal.kind, "ok")
        return
    if status not in (401, 429):
        return
    header = request.headers.get("Authorization")
    requirement = requirement_of(request.match_info.handler)
    if header and requirement is not None and not requirement.public:
        metrics.record_auth(_auth_kind(header), "refused" if status == 401 else "throttled")


def observability_middleware(settings: Settings) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The outermost middleware: request id, timing, metrics and (if ACCESS_LOG) the log line."""
    log_requests = settings.access_log

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = request_id_from(request.headers.get("X-Request-ID"))
        request[keys.REQUEST_ID] = request_id
        status = 500  # unless something below says otherwise
        try:
            response = await handler(request)
            status = response.status
            if not response.prepared:
                response.headers["X-Request-ID"] = request_id
            return response
        except web.HTTPException as exc:  # redirects, which the error middleware lets through
            status = exc.status
            exc.headers["X-Request-ID"] = request_id
            raise
        except asyncio.CancelledError:  # the client went away before the answer
            status = 499
            raise
        finally:
            elapsed = time.perf_counter() - started
            route = _route_of(request)
            metrics.observe_request(request.method, route, status, elapsed)
            _count_auth(request, status)
            if log_requests:
                _log_request(request, route, status, elapsed, request_id)

    return observe


def _log_request(request: web.Request, route: str, status: int, elapsed: float,
                 request_id: str) -> None:
    if not _access.isEnabledFor(logging.INFO):
        return
    principal = request.get(keys.PRINCIPAL)
    user_id = token_id = None
    if principal is not None:
        ids = principal.memo.get("log_ids")
        if ids is None:  # once per cached principal: str(UUID) is not free
            ids = principal.memo["log_ids"] = (
                str(principal.user_id), str(principal.token_id) if principal.token_id else None)
        user_id, token_id = ids
    fields = {
        "method": request.method,
        "route": route,
        "path": request.path[:_MAX_PATH],
        "status": status,
        "duration_ms": round(elapsed * 1000, 3),
        "remote": request.remote,
        "user_id": user_id,
        "token_id": token_id,
        "request_id": request_id,
    }
    # makeRecord + handle rather than .info(): .info() walks the stack to find the caller's
    # file and line, which the line does not show and which cost more than the rest of it.
    _access.handle(_access.makeRecord(ACCESS_LOGGER, logging.INFO, "", 0, "%s %s %s",
                                      (request.method, route, status), None,
                                      extra={"fields": fields}))
