"""POST /login: the OAuth 2.0 token endpoint (RFC 6749), password and client-credentials grants."""

from __future__ import annotations

import base64
import binascii
import time
from urllib.parse import unquote

import marshmallow as ma
from aiohttp import web

from service import keys, metrics
from service.abuse import hooks as abuse
from service.auth.apikeys import parse_client_id
from service.auth.jwt import expires_iso
from service.auth.principal import user_scopes
from service.auth.scopes import order, public
from service.errors import ApiError
from service.openapi import doc
from service.users import repo as users_repo

routes = web.RouteTableDef()

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_PARAMS = ("grant_type", "username", "password", "client_id", "client_secret", "scope")
_SECRET_PARAMS = ("password", "client_secret")


class OAuthError(Exception):
    """An RFC 6749 §5.2 error."""

    def __init__(self, error: str, description: str, status: int = 400,
                 headers: dict | None = None) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status
        self.headers = headers or {}

    def response(self) -> web.Response:
        return web.json_response({"error": self.error, "error_description": self.description},
                                 status=self.status, headers={**_NO_STORE, **self.headers})


class LoginFormSchema(ma.Schema):
    grant_type = ma.fields.String(required=True,
                                  validate=ma.validate.OneOf(["password", "client_credentials"]))
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


async def _form(request: web.Request) -> dict[str, str]:
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
    for name in _PARAMS:
        values = form.getall(name, [])
        if len(values) > 1:
            raise OAuthError("invalid_request", f"The parameter '{name}' is repeated.")
        if values:
            value = values[0]
            if not isinstance(value, str) or value == "":
                raise OAuthError("invalid_request", f"The parameter '{name}' is empty.")
            params[name] = value
    return params


def _require(params: dict[str, str], *names: str) -> None:
    missing = [n for n in names if n not in params]
    if missing:
        raise OAuthError("invalid_request", f"Missing parameter(s): {', '.join(missing)}.")


def _basic_credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_request", "Only Basic client authentication is accepted here.")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _invalid_client(basic=True) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _invalid_client(basic=True)
    return unquote(client_id), unquote(secret)


def _invalid_client(*, basic: bool) -> OAuthError:
    headers = {"WWW-Authenticate": 'Basic realm="mrsm"'} if basic else {}
    return OAuthError("invalid_client", "Client authentication failed.", 401, headers)


def _narrow(params: dict[str, str], held: frozenset[str]) -> list[str]:
    if "scope" not in params:
        return order(held)
    wanted = set(params["scope"].split())
    if not wanted:
        raise OAuthError("invalid_request", "The parameter 'scope' is empty.")
    if not wanted <= held:
        extra = " ".join(sorted(wanted - held))
        raise OAuthError("invalid_scope", f"Not held, so cannot be granted: {extra}.")
    return order(wanted)


def _granted(access_token: str, exp: int, scopes: list[str], now: int) -> web.Response:
    body = {"access_token": access_token, "token_type": "bearer",
            "expires_in": max(exp - now, 0), "expires": expires_iso(exp),
            "scope": " ".join(scopes)}
    return web.json_response(body, headers=_NO_STORE)


async def _password_grant(request: web.Request, params: dict[str, str]) -> web.Response:
    _require(params, "username", "password")
    app = request.app
    hasher = app[keys.HASHER]
    async with app[keys.POOL].acquire() as conn:
        # issue 7: 429 when this address may not try this username now.
        await abuse.check_password_login(request, conn, params["username"])
        user = await users_repo.by_name(conn, params["username"])
    # The connection goes back before the argon2 work: logins queued on the hash pool
    # must not hold the database connections that API-key requests need.
    # Unknown users cost one argon2 verification too: same body, about the same time.
    ok = await hasher.verify(user["password_hash"] if user else None, params["password"])
    if not ok or user is None:
        await abuse.login_failed(request, "password", username=params["username"], user=user,
                                 reason="wrong_password" if user else "unknown_user")  # issue 7
        raise OAuthError("invalid_grant", "The username or password is wrong.")
    if hasher.needs_rehash(user["password_hash"]):
        new_hash = await hasher.hash(params["password"])
        async with app[keys.POOL].acquire() as conn:
            await users_repo.rehash(conn, user["id"], new_hash, user["password_hash"])
    scopes = _narrow(params, user_scopes(user["type"], user["scopes"]))
    token, exp = app[keys.JWT].issue(user_id=user["id"], scopes=scopes,
                                     password_version=user["password_version"])
    abuse.login_succeeded(request, "password", user_id=user["id"],
                          username=user["username"])  # issue 7: audit
    return _granted(token, exp, scopes, _now())


async def _client_credentials_grant(request: web.Request, params: dict[str, str]) -> web.Response:
    basic = _basic_credentials(request)
    if basic is not None:
        if "client_id" in params or "client_secret" in params:
            raise OAuthError("invalid_request",
                             "Send client credentials in the body or in Basic, not both.")
        client_id_text, secret = basic
    else:
        _require(params, "client_id", "client_secret")
        client_id_text, secret = params["client_id"], params["client_secret"]
    client_id = parse_client_id(client_id_text)
    abuse.check_client_login(request, client_id)  # issue 7: 429 when blocked
    if client_id is None:
        await abuse.login_failed(request, "client_credentials",
                                 reason="malformed_client_id")  # issue 7
        raise _invalid_client(basic=basic is not None)
    app = request.app
    principal = await app[keys.AUTHN].verify_client(client_id, secret)
    # issue 7: the token's networks and rate limit apply here as to its API key.
    if principal is None or not abuse.admit(request, principal):
        await abuse.login_failed(request, "client_credentials", client_id=client_id,
                                 reason="wrong_secret" if principal is None else "network")
        raise _invalid_client(basic=basic is not None)
    scopes = _narrow(params, principal.scopes)
    token, exp = app[keys.JWT].issue(user_id=principal.user_id, scopes=scopes,
                                     token_id=principal.token_id,
                                     token_expiration=principal.expires_at)
    abuse.login_succeeded(request, "client_credentials", user_id=principal.user_id,
                          username=principal.username, token_id=principal.token_id)  # issue 7
    return _granted(token, exp, scopes, _now())


def _now() -> int:
    return int(time.time())


@routes.post("/login")
@public
@doc("Exchange a username and password, or a client ID and secret, for a short-lived JWT",
     tag="auth", form=LoginFormSchema, responses={200: TokenResponseSchema})
async def login(request: web.Request) -> web.Response:
    grant = None
    try:
        params = await _form(request)
        grant = params.get("grant_type")
        if grant is None:
            raise OAuthError("invalid_request", "Missing parameter: grant_type.")
        if grant == "password":
            if "Authorization" in request.headers:
                raise OAuthError("invalid_request",
                                 "Client authentication is not used with the password grant.")
            response = await _password_grant(request, params)
        elif grant == "client_credentials":
            response = await _client_credentials_grant(request, params)
        else:
            raise OAuthError("unsupported_grant_type",
                             "Use grant_type=password or grant_type=client_credentials.")
    except OAuthError as err:
        _count_failure(grant, err)
        return err.response()
    except ApiError as err:
        if err.status != 429:
            raise
        # issue 7: throttled; answered like every other /login error (no-store, counted).
        throttled = OAuthError(err.code, err.description, err.status, err.headers)
        _count_failure(grant, throttled)
        return throttled.response()
    metrics.record_auth(grant, "ok")
    return response


def _count_failure(grant: str | None, err: OAuthError) -> None:
    """Wrong credentials count as refused, 429 as throttled; malformed requests not at all."""
    if grant not in ("password", "client_credentials"):
        return
    if err.status == 429:
        metrics.record_auth(grant, "throttled")
    elif err.error in ("invalid_grant", "invalid_client"):
        metrics.record_auth(grant, "refused")
