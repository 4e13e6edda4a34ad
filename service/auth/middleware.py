"""Authorization: what each route asks (`route_facts`), and the caller's credential
checked against it (`authorize`).

The accepted forms of the header are in service.auth.schemes. Query strings and
cookies are never read.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import hdrs, web

from service import keys
from service.abuse import hooks as abuse
from service.auth.principal import Principal
from service.auth.scopes import Requirement, order, requirement_of
from service.errors import ApiError
from service.metrics import UNMATCHED

REALM = "mrsm"


def missing_credential() -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        "This route needs a credential: send 'Authorization: Bearer <access token>' "
        "or 'Authorization: <API key>'.",
        headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
    )


def invalid_credential() -> ApiError:
    # One body for every kind of bad credential: nobody learns which part was wrong.
    return ApiError(
        401,
        "invalid_token",
        "The credential is invalid, expired or revoked.",
        headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token"'},
    )


def insufficient_scope(needed: frozenset[str]) -> ApiError:
    wanted = " ".join(order(needed))
    return ApiError(
        403,
        "insufficient_scope",
        f"This credential lacks the scope this route needs: {wanted}.",
        headers={
            "WWW-Authenticate":
                f'Bearer realm="{REALM}", error="insufficient_scope", scope="{wanted}"'
        },
    )


@dataclass(frozen=True, slots=True)
class RouteFacts:
    """What the front needs to know of a route, worked out once, at start-up.

    `label` is the route's pattern for metrics and the log (never the raw path);
    `requirement` is None when no credential is checked (a public route, or a 404/405,
    answered the same with or without one); `closed` marks a route nobody annotated.
    """

    label: str
    requirement: Requirement | None
    closed: bool = False


# A 404 or 405: answered the same with or without a credential.
NO_ROUTE = RouteFacts(UNMATCHED, None)


def route_facts(route: web.AbstractRoute) -> RouteFacts:
    """What the front needs to know of `route`, from its annotation (worked out once, when
    the front is put before the route's handler at start-up: service.middleware)."""
    label = route.resource.canonical
    requirement = requirement_of(route.handler)
    if requirement is None:
        return RouteFacts(label, None, closed=True)
    return RouteFacts(label, None if requirement.public else requirement)


def not_open() -> ApiError:
    # Deny by default: a route nobody annotated is nobody's to call.
    return ApiError(403, "forbidden", "This route is not open to anyone.")


async def authorize(request: web.Request, requirement: Requirement) -> Principal:
    """The caller of a protected route, or an ApiError (401, 403, 429). Called by the front
    (service.middleware) for routes whose facts carry a requirement.

    A credential this process verified before is found with one SHA-256 of the header
    (Authenticator.cached, a plain call); only a miss waits for the database.
    """
    header = request.headers.get(hdrs.AUTHORIZATION)
    if not header:
        raise missing_credential()
    abuse.before_auth(request, header)  # issue 7: 429 for a blocked source or key
    authn = request.app[keys.AUTHN]
    principal = authn.cached(header)
    if principal is None:
        principal = await authn.verify_header(header)
    # issue 7: the token's own networks and rate limit; failures count toward throttling.
    if principal is None or not abuse.admit(request, principal):
        await abuse.auth_failed(request, header, principal)
        raise invalid_credential()
    if not requirement.scopes <= principal.scopes:
        raise insufficient_scope(requirement.scopes)
    request[keys.PRINCIPAL] = principal
    return principal


def principal_of(request: web.Request) -> Principal:
    return request[keys.PRINCIPAL]
