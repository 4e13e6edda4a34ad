"""The two grants of POST /login (RFC 6749): password, and client credentials.

Each checks the throttle before the secret, counts and audits a failure, and audits a
success (batched: logins change nothing, and the client-credentials grant must stay
fast). Errors are `OAuthError`s, answered by the route in RFC 6749's shape.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from urllib.parse import unquote

from aiohttp import web

from service import keys
from service.abuse.client import client_address, counted_source, source_text
from service.abuse.throttle import Subject
from service.audit import recorder as audit
from service.auth.apikeys import parse_client_id
from service.auth.jwt import PIPES_DETAIL, expires_iso
from service.auth.principal import Principal, user_scopes
from service.auth.scopes import order
from service.users import repo as users_repo

PASSWORD = "password"  # noqa: S105 - a grant type, not a secret
CLIENT_CREDENTIALS = "client_credentials"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """An RFC 6749 §5.2 error."""

    def __init__(self, error: str, description: str, status: int = 400,
                 headers: dict | None = None) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status
        self.headers = headers or {}

    def response(self) -> web.Response:
        return web.json_response({"error": self.error, "error_description": self.description},
                                 status=self.status, headers={**NO_STORE, **self.headers})


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


def _granted(access_token: str, exp: int, scopes: list[str], now: int,
             pipes: list[str] | None = None) -> web.Response:
    body = {"access_token": access_token, "token_type": "bearer",
            "expires_in": max(exp - now, 0), "expires": expires_iso(exp),
            "scope": " ".join(scopes)}
    if pipes is not None:  # RFC 9396 §7: the details granted, as the JWT carries them
        body["authorization_details"] = [{"type": PIPES_DETAIL, "pipes": pipes}]
    return web.json_response(body, headers=NO_STORE)


async def password_grant(request: web.Request, params: dict[str, str]) -> web.Response:
    _require(params, "username", "password")
    app = request.app
    hasher = app[keys.HASHER]
    source = _source(request)
    async with app[keys.POOL].acquire() as conn:
        # 429 when this address may not try this username now.
        await app[keys.ABUSE].check_password_login(conn, source, params["username"])
        user = await users_repo.by_name(conn, params["username"])
    # The connection goes back before the argon2 work: logins queued on the hash pool
    # must not hold the database connections that API-key requests need.
    # Unknown users cost one argon2 verification too: same body, about the same time.
    ok = await hasher.verify(user["password_hash"] if user else None, params["password"])
    if not ok or user is None:
        await record_failure(request, source, PASSWORD, Subject.user(params["username"]),
                      reason="wrong_password" if user else "unknown_user",
                      user_id=user["id"] if user else None,
                      username=user["username"] if user else None)
        raise OAuthError("invalid_grant", "The username or password is wrong.")
    if hasher.needs_rehash(user["password_hash"]):
        new_hash = await hasher.hash(params["password"])
        async with app[keys.POOL].acquire() as conn:
            await users_repo.rehash(conn, user["id"], new_hash, user["password_hash"])
    scopes = _narrow(params, user_scopes(user["type"], user["scopes"]))
    token, exp = app[keys.JWT].issue(user_id=user["id"], scopes=scopes,
                                     password_version=user["password_version"])
    _succeeded(request, source, PASSWORD, user_id=user["id"], username=user["username"])
    return _granted(token, exp, scopes, _now())


async def authenticate_client(request: web.Request, params: dict[str, str],
                              grant: str = CLIENT_CREDENTIALS) -> tuple[Principal, str]:
    """The token a client authenticates as, and the source it called from: its client ID
    and secret in Basic or in the body, throttled, its networks and rate limit applied, a
    failure audited and counted under `grant`. OAuthError invalid_client (401) for bad ones."""
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
    app = request.app
    guard = app[keys.ABUSE]
    address = client_address(request, app[keys.SETTINGS].abuse)
    source = source_text(address)
    guard.check_blocked(source, client_id)  # 429 when blocked
    if client_id is None:
        await record_failure(request, source, grant, None, reason="malformed_client_id")
        raise _invalid_client(basic=basic is not None)
    tracked = str(address) if address is not None and app[keys.SETTINGS].track_sources else None
    principal = await app[keys.AUTHN].verify_client(client_id, secret, tracked)
    # The token's networks and rate limit apply here as to its API key.
    if principal is None or not await guard.admit(principal.token_id, principal.rate_limit,
                                                  principal.allowed_cidrs, address):
        await record_failure(request, source, grant, Subject.client(client_id),
                      reason="wrong_secret" if principal is None else "network",
                      client_id=client_id)
        raise _invalid_client(basic=basic is not None)
    return principal, source


async def client_credentials_grant(request: web.Request, params: dict[str, str]) -> web.Response:
    principal, source = await authenticate_client(request, params)
    app = request.app
    scopes = _narrow(params, principal.scopes)
    pipes = principal.pipes.texts() if principal.pipes is not None else None
    token, exp = app[keys.JWT].issue(user_id=principal.user_id, scopes=scopes,
                                     token_id=principal.token_id,
                                     token_expiration=principal.expires_at, pipes=pipes,
                                     secret_version=principal.secret_version)
    _succeeded(request, source, CLIENT_CREDENTIALS, user_id=principal.user_id,
               username=principal.username, token_id=principal.token_id)
    response = _granted(token, exp, scopes, _now(), pipes)
    if principal.notices is not None:  # the token's expiry; a rotated secret's end
        response.headers.extend(principal.notices)
    return response


def _now() -> int:
    return int(time.time())


def _source(request: web.Request) -> str:
    return counted_source(request, request.app[keys.SETTINGS].abuse)


async def record_failure(request: web.Request, source: str, grant: str,
                         subject: Subject | None, *, reason: str,
                         user_id: uuid.UUID | None = None, username: str | None = None,
                         client_id: uuid.UUID | None = None) -> None:
    """Audit a failed login, then count it (a 429 or 503 from the throttle passes on)."""
    app = request.app
    async with app[keys.POOL].acquire() as conn:
        user_id, username = await audit.login_failed(
            conn, grant, source=source, reason=reason, user_id=user_id, username=username,
            client_id=client_id)
    await app[keys.ABUSE].login_failed(source, subject, target_user_id=user_id,
                                       target_username=username)


def _succeeded(request: web.Request, source: str, grant: str, *, user_id: uuid.UUID,
               username: str, token_id: uuid.UUID | None = None) -> None:
    """Queue the audit event of a successful login (written within a second)."""
    request.app[keys.AUDIT].add(audit.login_succeeded(
        grant, source=source, user_id=user_id, username=username, token_id=token_id))
