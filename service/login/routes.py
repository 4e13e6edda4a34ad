"""POST /login: the OAuth 2.0 token endpoint (RFC 6749); the grants are in
service.login.grants."""

from __future__ import annotations

import marshmallow as ma
from aiohttp import web

from service import metrics
from service.auth.scopes import public
from service.errors import ApiError
from service.login.grants import (
    CLIENT_CREDENTIALS,
    PASSWORD,
    OAuthError,
    client_credentials_grant,
    password_grant,
)
from service.openapi import doc

routes = web.RouteTableDef()

_PARAMS = ("grant_type", "username", "password", "client_id", "client_secret", "scope")
_SECRET_PARAMS = ("password", "client_secret")


class LoginFormSchema(ma.Schema):
    grant_type = ma.fields.String(required=True,
                                  validate=ma.validate.OneOf([PASSWORD, CLIENT_CREDENTIALS]))
    username = ma.fields.String()
    password = ma.fields.String()
    client_id = ma.fields.String()
    client_secret = ma.fields.String()
    scope = ma.fields.String(metadata={"description": "space-separated; narrows the grant"})


class TokenResponseSchema(ma.Schema):
    access_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True)
    expires_in = ma.fields.Integer(required=True)
    expires = ma.fields.String(required=True)
    scope = ma.fields.String(required=True)
    authorization_details = ma.fields.List(ma.fields.Dict(), metadata={
        "description": "RFC 9396, for a token bound to pipes: "
                       "[{\"type\": \"mrsm_pipes\", \"pipes\": [patterns]}]"})


async def read_form(request: web.Request,
                    names: tuple[str, ...] = _PARAMS) -> dict[str, str]:
    """The form's parameters among `names`: each at most once and not empty, no secret in
    the query string (RFC 6749 §3.2, §2.3.1); OAuthError invalid_request otherwise."""
    if request.content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request",
                         "Send the parameters as application/x-www-form-urlencoded.")
    if any(name in request.query for name in _SECRET_PARAMS):
        raise OAuthError("invalid_request", "Secrets must not be sent in the query string.")
    try:
        form = await request.post()
    except UnicodeDecodeError:
        raise OAuthError("invalid_request", "The form is not valid UTF-8.") from None
    except LookupError:  # "charset=bogus" in the Content-Type: was a 500
        raise OAuthError("invalid_request", "The form's charset is unknown.") from None
    params: dict[str, str] = {}
    for name in names:
        values = form.getall(name, [])
        if len(values) > 1:
            raise OAuthError("invalid_request", f"The parameter '{name}' is repeated.")
        if values:
            value = values[0]
            if not isinstance(value, str) or value == "":
                raise OAuthError("invalid_request", f"The parameter '{name}' is empty.")
            params[name] = value
    return params


@routes.post("/login")
@public
@doc("Exchange a username and password, or a client ID and secret, for a short-lived JWT",
     tag="auth", form=LoginFormSchema, responses={200: TokenResponseSchema},
     credential_headers=True)
async def login(request: web.Request) -> web.Response:
    grant = None
    try:
        params = await read_form(request)
        grant = params.get("grant_type")
        if grant is None:
            raise OAuthError("invalid_request", "Missing parameter: grant_type.")
        if grant == PASSWORD:
            if "Authorization" in request.headers:
                raise OAuthError("invalid_request",
                                 "Client authentication is not used with the password grant.")
            response = await password_grant(request, params)
        elif grant == CLIENT_CREDENTIALS:
            response = await client_credentials_grant(request, params)
        else:
            raise OAuthError("unsupported_grant_type",
                             "Use grant_type=password or grant_type=client_credentials.")
    except OAuthError as err:
        _count_failure(grant, err)
        return err.response()
    except ApiError as err:
        if err.status != 429:
            raise
        # Throttled: answered like every other /login error (no-store, counted).
        throttled = OAuthError(err.code, err.description, err.status, err.headers)
        _count_failure(grant, throttled)
        return throttled.response()
    metrics.record_auth(grant, "ok")
    return response


def _count_failure(grant: str | None, err: OAuthError) -> None:
    """Wrong credentials count as refused, 429 as throttled; malformed requests not at all."""
    if grant not in (PASSWORD, CLIENT_CREDENTIALS):
        return
    if err.status == 429:
        metrics.record_auth(grant, "throttled")
    elif err.error in ("invalid_grant", "invalid_client"):
        metrics.record_auth(grant, "refused")
