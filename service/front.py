"""The front: one aiohttp middleware that every request passes through, in this order.

1. A request id: the caller's X-Request-ID when acceptable, else a new one; it goes back
   on every answer.
2. Authorization (`authorize`): the route's annotation (service.auth.scopes) enforced,
   deny by default. The Authorization header becomes one `Credential`; the
   authenticator checks it (its cache, else the database), the abuse guard its
   throttle and the token's own limits; the verified `Principal` goes on the request
   under `keys.PRINCIPAL` for the handler (service.caller).
3. The handler.
4. Errors: whatever steps 2 and 3 raised becomes the one JSON error shape
   (service.errors.response_for), the router's 404 and 405 included; redirects pass.
5. Metrics and the access line, for every answer, errors and cancelled requests included.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from multidict import istr

from service import errors, keys, metrics
from service.abuse.client import address_text, client_address, counted_source, source_text
from service.audit import recorder as audit
from service.auth.errors import insufficient_scope, invalid_credential, missing_credential
from service.auth.principal import Principal
from service.auth.schemes import JWT, Credential
from service.auth.scopes import Requirement, requirement_of
from service.config import AbuseSettings, Settings
from service.console.routes import SECURITY_HEADERS
from service.errors import DATABASE_UNAVAILABLE, OUTAGE, ApiError
from service.observability import (
    AUTH_OK,
    access_line,
    access_logging,
    answer_of,
    count_refusal,
    request_id_from,
)

# istr: headers are looked up by these without lower-casing the name on every request.
REQUEST_ID_HEADER = istr("X-Request-ID")
AUTHORIZATION = istr(hdrs.AUTHORIZATION)
SERVER = istr(hdrs.SERVER)
# aiohttp's default names Python's and aiohttp's versions: a free hint for an attacker.
SERVER_NAME = "mrsm-tokens"
CONSOLE = "/console"


@dataclass(frozen=True, slots=True)
class RouteFacts:
    """What the front needs to know of a route, worked out on its first request.

    `label` is the route's pattern for metrics and the log (never the raw path);
    `requirement` is None when no credential is checked (a public route, or a 404/405,
    answered the same with or without one); `closed` marks a route nobody annotated.
    """

    label: str
    requirement: Requirement | None
    closed: bool = False


# A 404 or 405: answered the same with or without a credential.
NO_ROUTE = RouteFacts(metrics.UNMATCHED, None)


def route_facts(route: web.AbstractRoute) -> RouteFacts:
    requirement = requirement_of(route.handler)
    label = route.resource.canonical if route.resource is not None else metrics.UNMATCHED
    if requirement is None:
        return RouteFacts(label, None, closed=True)
    return RouteFacts(label, None if requirement.public else requirement)


def front(app: web.Application, settings: Settings) -> Middleware:
    """The front of `app` (service.app.create_app adds it). The authenticator and the abuse
    guard are read from `app` itself, so a sub-application's routes use them too."""
    write_line = access_logging(settings)
    facts_by_route: dict[web.AbstractRoute, RouteFacts] = {}  # bounded by the app's routes
    # Where a token is used from is recorded only when tracked (TRACK_SOURCES).
    tracked = settings.abuse if settings.track_sources else None

    @web.middleware
    async def front_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        match_info = request.match_info
        route = facts_by_route.get(match_info.route)
        if route is None:
            if match_info.http_exception is not None:
                route = NO_ROUTE  # no route matched: the handler raises the 404 or 405
            else:
                route = facts_by_route[match_info.route] = route_facts(match_info.route)
        credential: Credential | None = None
        principal: Principal | None = None
        status = 500  # unless something below says otherwise
        try:
            try:
                if route.requirement is not None:
                    # getall, not get: with two headers, get answers as whoever came first,
                    # while a proxy in front may have read the other one.
                    values = request.headers.getall(AUTHORIZATION, ())
                    if values:
                        if len(values) > 1:
                            raise duplicate_authorization()
                        if values[0]:
                            credential = Credential(values[0])
                    principal = await authorize(app, request, route.requirement, credential,
                                                tracked)
                elif route.closed:
                    raise not_open()
                elif (route is not NO_ROUTE and AUTHORIZATION in request.headers
                      and len(request.headers.getall(AUTHORIZATION)) > 1):
                    raise duplicate_authorization()  # a public route may read it (/login)
                response = await handler(request)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a JSON answer
                if isinstance(exc, web.HTTPException) and exc.status < 400:
                    status = exc.status  # a redirect: aiohttp sends it as it is
                    exc.headers[REQUEST_ID_HEADER] = request_id
                    exc.headers[SERVER] = SERVER_NAME
                    raise
                response = errors.response_for(exc, request_id)
                path = request.path
                if path.startswith(CONSOLE) and (len(path) == len(CONSOLE)
                                                 or path[len(CONSOLE)] == "/"):
                    # The console's own answers carry these; its errors must too (a 404
                    # page framed or sniffed is still a page of this origin).
                    response.headers.update(SECURITY_HEADERS)
            status = response.status
            if not response.prepared:
                headers = response.headers
                headers[REQUEST_ID_HEADER] = request_id
                headers[SERVER] = SERVER_NAME
                if principal is not None:
                    # The token's expiration (and a rotated secret's end), made once with
                    # the principal: set here, no formatting.
                    notices = principal.notices
                    if notices is not None:
                        for name, value in notices:
                            headers[name] = value
            return response
        except asyncio.CancelledError:  # the client went away before the answer
            status = 499
            raise
        finally:
            elapsed = time.perf_counter() - started
            if OUTAGE.active and status < 499:  # 499: gone, not answered
                OUTAGE.over()  # this request did not fail: the database answers again
            answer = answer_of(request.method, route.label, status)
            answer.metrics.observe(elapsed)
            if principal is not None:
                accepted = AUTH_OK.get(principal.kind)
                if accepted is not None:
                    accepted.value += 1
            elif credential is not None and status in (401, 429):
                count_refusal(credential, status)
            if write_line is not None:
                write_line(access_line(request, principal, answer, elapsed, request_id))

    return front_middleware


async def authorize(app: web.Application, request: web.Request, requirement: Requirement,
                    credential: Credential | None,
                    tracked: AbuseSettings | None = None) -> Principal:
    """The caller of a protected route of `app`, or an ApiError (401, 403, 429).

    A credential this process verified before is found with one SHA-256 of the header
    (Authenticator.cached, a plain call); only a miss waits for the database. With
    `tracked` (the trusted-proxy rule), the client's address is handed on with it, for the
    token's recent sources.
    """
    if credential is None:
        raise missing_credential()
    guard = app[keys.ABUSE]
    if guard.blocks:  # a block known to this process (usually none)
        guard.check_blocked(_source(app, request), credential.client_id)
    authn = app[keys.AUTHN]
    if tracked is None:
        source = None
    elif tracked.trusted_proxy_header is None:
        source = request.remote  # the peer as given: the last-used flush makes it canonical
    else:
        source = address_text(request, tracked)
    principal = authn.cached(credential, source)
    if principal is None:
        principal = await authn.verify(credential, source)
    if principal is None:
        # A bad JWT is not counted: it cannot be guessed, and an expired one is what every
        # well-behaved client sends once before logging in again.
        if credential.kind != JWT:
            await _refused(app, _source(app, request), credential, credential.client_id,
                           "wrong_secret")
        raise invalid_credential()
    if principal.allowed_cidrs is not None or principal.rate_limit is not None:
        address = client_address(request, app[keys.SETTINGS].abuse)
        if not await guard.admit(principal.token_id, principal.rate_limit,
                                 principal.allowed_cidrs, address):
            await _refused(app, source_text(address), credential, principal.token_id,
                           "network")
            raise invalid_credential()
    if not requirement.scopes <= principal.scopes:
        raise insufficient_scope(requirement.scopes)
    request[keys.PRINCIPAL] = principal
    return principal


async def _refused(app: web.Application, source: str, credential: Credential,
                   client_id: uuid.UUID | None, reason: str) -> None:
    """A refused secret, audited and counted as a failed login is (service.login.grants):
    every place a secret is checked costs a guesser the same. The answer stays 401 while
    the database is away; only the record is lost."""
    try:
        async with app[keys.POOL].acquire() as conn:
            await audit.login_failed(conn, credential.kind, source=source, reason=reason,
                                     user_id=None, username=None, client_id=client_id)
    except DATABASE_UNAVAILABLE:
        pass
    await app[keys.ABUSE].refused(source, client_id)


def _source(app: web.Application, request: web.Request) -> str:
    return counted_source(request, app[keys.SETTINGS].abuse)


def duplicate_authorization() -> ApiError:
    return ApiError(400, "invalid_request",
                    "Send one Authorization header, not several: which one counts is ambiguous.")


def not_open() -> ApiError:
    # Deny by default: a route nobody annotated is nobody's to call.
    return ApiError(403, "forbidden", "This route is not open to anyone.")
