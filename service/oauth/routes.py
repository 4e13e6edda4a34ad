"""The authorization server's public documents (RFC 8414 metadata, the JWKS) and its
introspection (RFC 7662) and revocation (RFC 7009) endpoints.

/introspect and /revoke are public routes for the front: their caller authenticates as a
client does at /login (client ID and secret, in Basic or in the form), or sends any
credential of an admin in Authorization. Both answer errors in RFC 6749's shape.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from service import keys
from service.abuse.client import client_address, source_text
from service.auth import keystore
from service.auth.principal import Principal
from service.auth.schemes import API_KEY, Credential
from service.auth.scopes import public
from service.errors import ApiError
from service.login.grants import NO_STORE, OAuthError, authenticate_client, record_failure
from service.login.routes import read_form
from service.oauth import ops
from service.oauth.schemas import (
    TOKEN_TYPE_HINTS,
    IntrospectionSchema,
    JwksSchema,
    MetadataSchema,
    TokenFormSchema,
)
from service.openapi import doc

routes = web.RouteTableDef()

_FORM = ("token", "token_type_hint", "client_id", "client_secret")
METADATA_MAX_AGE = 3600
JWK_SET = "application/jwk-set+json"  # RFC 7517 §8.5
INTROSPECTION = "introspection"  # how failed client authentications here are audited
REVOCATION = "revocation"


@routes.get("/.well-known/oauth-authorization-server")
@public
@doc("Authorization server metadata (RFC 8414)", tag="oauth",
     responses={200: MetadataSchema})
async def authorization_server(request: web.Request) -> web.Response:
    return web.json_response(ops.metadata(request.app[keys.SETTINGS]),
                             headers={"Cache-Control": f"public, max-age={METADATA_MAX_AGE}"})


@routes.get("/.well-known/jwks.json")
@public
@doc("The public keys that verify our JWTs (RFC 7517): the next, the current and the "
     "still-valid previous ones; empty under HS256", tag="oauth",
     responses={200: (JWK_SET, JwksSchema)})
async def jwks(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    # Shorter than the pre-publication time: a cached copy has the next key before it signs.
    max_age = keystore.jwks_max_age(settings)
    return web.json_response(ops.jwks(request.app[keys.JWT].keys),
                             content_type=JWK_SET,
                             headers={"Cache-Control": f"public, max-age={max_age}"})


async def _token_form(request: web.Request) -> dict[str, str]:
    params = await read_form(request, _FORM)
    if "token" not in params:
        raise OAuthError("invalid_request", "Missing parameter: token.")
    hint = params.get("token_type_hint")
    if hint is not None and hint not in TOKEN_TYPE_HINTS:
        raise OAuthError("invalid_request",
                         f"token_type_hint must be one of {', '.join(TOKEN_TYPE_HINTS)}.")
    return params


async def _caller(request: web.Request, params: dict[str, str], purpose: str) -> Principal:
    """A client by its ID and secret (Basic or form), or an admin by any credential."""
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is None or header.partition(" ")[0].lower() == "basic":
        principal, _ = await authenticate_client(request, params, purpose)
        return principal
    if "client_id" in params or "client_secret" in params:
        raise OAuthError("invalid_request",
                         "Send one credential: client ID and secret, or Authorization.")
    app = request.app
    guard = app[keys.ABUSE]
    credential = Credential(header)
    address = client_address(request, app[keys.SETTINGS].abuse)
    source = source_text(address)
    guard.check_blocked(source, credential.client_id)
    authn = app[keys.AUTHN]
    principal = authn.cached(credential) or await authn.verify(credential)
    if principal is not None and not await guard.admit(principal.token_id, principal.rate_limit,
                                                       principal.allowed_cidrs, address):
        principal = None
    if principal is None:
        if credential.kind == API_KEY:  # a guessable kind: counted, as at /login
            await record_failure(request, source, purpose, None, reason="wrong_secret",
                                 client_id=credential.client_id)
        raise OAuthError("invalid_client", "Client authentication failed.", 401,
                         {"WWW-Authenticate": 'Bearer realm="mrsm", error="invalid_token"'})
    if not principal.is_admin:
        raise OAuthError("invalid_client",
                         "Only an admin's credential is accepted in Authorization here; a "
                         "client authenticates with its client ID and secret.", 401,
                         {"WWW-Authenticate": 'Basic realm="mrsm"'})
    return principal


async def _answer(request: web.Request, purpose: str, act) -> web.Response:
    try:
        params = await _token_form(request)
        caller = await _caller(request, params, purpose)
        return await act(caller, params["token"])
    except OAuthError as err:
        return err.response()
    except ApiError as err:
        if err.status != 429:
            raise
        return OAuthError(err.code, err.description, err.status, err.headers).response()


@routes.post(ops.INTROSPECT_PATH)
@public
@doc("Token introspection (RFC 7662): whether a JWT or API key is active, and its claims",
     tag="oauth", form=TokenFormSchema, responses={200: IntrospectionSchema})
async def introspect(request: web.Request) -> web.Response:
    app = request.app
    authn = app[keys.AUTHN]
    issuer = app[keys.SETTINGS].issuer

    async def verify(credential: Credential) -> Principal | None:
        return authn.cached(credential) or await authn.verify(credential)

    async def act(caller: Principal, token: str) -> web.Response:
        body = await ops.introspect(verify, caller, token, issuer)
        return web.json_response(body, headers=NO_STORE)

    return await _answer(request, INTROSPECTION, act)


@routes.post(ops.REVOKE_PATH)
@public
@doc("Token revocation (RFC 7009): ends a JWT (until its exp) or an API key; 200 with an "
     "empty body for any well-formed request", tag="oauth", form=TokenFormSchema,
     responses={200: None})
async def revoke(request: web.Request) -> web.Response:
    app = request.app

    async def act(caller: Principal, token: str) -> web.Response:
        source = source_text(client_address(request, app[keys.SETTINGS].abuse))
        user_id = await ops.revoke(app[keys.POOL], app[keys.JWT], caller, token,
                                   source=source)
        if user_id is not None:
            app[keys.AUTHN].forget_user(user_id)  # here at once; others hear the notice
        return web.Response(status=200, headers=NO_STORE)

    return await _answer(request, REVOCATION, act)
