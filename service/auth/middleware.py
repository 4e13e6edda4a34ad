"""Authorization: decode the credential, enforce the route's annotation (`authorize`).

Accepted: ``Authorization: Bearer <jwt>``, the raw API key
``Authorization: mrsm-key:...`` (as the seed's curl example sends it) and
``Authorization: Bearer mrsm-key:...``. Query strings and cookies are never read.
"""

from __future__ import annotations

from aiohttp import web

from service import keys
from service.abuse import hooks as abuse
from service.auth.apikeys import API_KEY_PREFIX
from service.auth.principal import Principal
from service.auth.scopes import order, requirement_of
from service.errors import ApiError

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


def split_authorization(header: str) -> tuple[str, str] | None:
    """("api_key" | "jwt", credential), or None for a scheme we do not accept."""
    header = header.strip()
    if header[: len(API_KEY_PREFIX)].lower() == API_KEY_PREFIX:
        return "api_key", API_KEY_PREFIX + header[len(API_KEY_PREFIX):]
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return None
    if value[: len(API_KEY_PREFIX)].lower() == API_KEY_PREFIX:
        return "api_key", API_KEY_PREFIX + value[len(API_KEY_PREFIX):]
    return "jwt", value


async def authenticate(request: web.Request, header: str) -> Principal | None:
    parts = split_authorization(header)
    if parts is None:
        return None
    kind, value = parts
    return await request.app[keys.AUTHN].verify(kind, value)


async def authorize(request: web.Request) -> Principal | None:
    """Enforce the route's annotation: the caller's principal (None on a public route), or
    an ApiError (401, 403, 429). Called by the one middleware, service.middleware."""
    match_info = request.match_info
    if match_info.http_exception is not None:
        return None  # 404 / 405, with or without a credential
    requirement = requirement_of(match_info.handler)
    if requirement is None:
        # Deny by default: a route nobody annotated is nobody's to call.
        raise ApiError(403, "forbidden", "This route is not open to anyone.")
    if requirement.public:
        return None
    header = request.headers.get("Authorization")
    if not header:
        raise missing_credential()
    abuse.before_auth(request, header)  # issue 7: 429 for a blocked source or key
    principal = await authenticate(request, header)
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
