"""POST /login (RFC 6749): both grants, client authentication, scopes, errors, the JWT."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from service.auth.scopes import ALL_SCOPES, DEFAULT_USER_SCOPES, order
from tests.support.api import ADMIN_PASSWORD, USER_PASSWORD
from tests.support.assertions import (
    assert_error,
    basic,
    bearer,
    claims_of,
    connect,
    header_of,
)

RESPONSE_KEYS = {"access_token", "token_type", "expires_in", "expires", "scope"}


async def login(api, data, **kwargs):
    return await api.client.post("/login", data=data, **kwargs)


def password_form(username="alice", password=USER_PASSWORD, **extra):
    return {"grant_type": "password", "username": username, "password": password, **extra}


def client_form(token, **extra):
    return {"grant_type": "client_credentials", "client_id": token["id"],
            "client_secret": token["secret"], **extra}


async def granted(resp) -> dict:
    text = await resp.text()
    assert resp.status == 200, text
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    assert set(body) == RESPONSE_KEYS
    assert body["token_type"] == "bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert body["expires"].endswith("Z")
    expires = datetime.fromisoformat(body["expires"].replace("Z", "+00:00"))
    assert expires.tzinfo is not None
    assert int(expires.timestamp()) == claims_of(body["access_token"])["exp"]
    return body


async def oauth_error(resp, status, error) -> dict:
    text = await resp.text()
    assert resp.status == status, text
    body = await resp.json()
    assert set(body) == {"error", "error_description"} and body["error"] == error, body
    assert body["error_description"]
    assert resp.headers.get("Cache-Control") == "no-store"
    return body


@pytest.fixture
async def alice(api):
    return await api.create_user("alice")


async def test_password_grant(api, alice, settings, database_url):
    body = await granted(await login(api, password_form()))
    assert body["scope"] == " ".join(DEFAULT_USER_SCOPES)
    assert settings.jwt_ttl_seconds - 5 <= body["expires_in"] <= settings.jwt_ttl_seconds
    claims = claims_of(body["access_token"])
    assert set(claims) >= {"iss", "sub", "iat", "exp", "jti", "scope"}
    assert "tid" not in claims
    assert claims["iss"] == settings.jwt_issuer
    assert claims["sub"] == str(alice["id"]) and claims["sub"] != "alice"
    assert claims["exp"] - claims["iat"] == settings.jwt_ttl_seconds
    assert abs(claims["iat"] - datetime.now(UTC).timestamp()) < 60
    assert claims["scope"] == body["scope"]
    header = header_of(body["access_token"])
    assert header["alg"] == "EdDSA" and header["typ"] == "at+jwt" and header["kid"]
    # Signed with the service's key, which its JWKS publishes.
    published = await (await api.client.get("/.well-known/jwks.json")).json()
    key = jwt.PyJWKSet.from_dict(published)[header["kid"]]
    jwt.decode(body["access_token"], key, algorithms=["EdDSA"], issuer=settings.issuer,
               audience=settings.audience)
    assert (await api.client.get("/users/me", headers=bearer(body["access_token"]))).status == 200


async def test_password_grant_username_is_case_insensitive(api, alice):
    body = await granted(await login(api, password_form(username="ALICE")))
    assert claims_of(body["access_token"])["sub"] == str(alice["id"])


async def test_jtis_are_unique(api, alice):
    first = claims_of((await granted(await login(api, password_form())))["access_token"])
    second = claims_of((await granted(await login(api, password_form())))["access_token"])
    assert first["jti"] != second["jti"]


async def test_admin_password_grant_has_every_scope(api):
    await api.create_user("root", ADMIN_PASSWORD, type_="admin")
    body = await granted(await login(api, password_form("root", ADMIN_PASSWORD)))
    assert body["scope"].split() == order(ALL_SCOPES)


async def test_client_credentials_in_body(api, alice, settings):
    user = await api.bearer("alice")
    token = await api.create_token(user, label="dev", scopes=["read:pipes", "read:tokens"])
    body = await granted(await login(api, client_form(token)))
    assert body["scope"] == "read:pipes read:tokens"
    claims = claims_of(body["access_token"])
    assert claims["tid"] == token["id"] and claims["sub"] == str(alice["id"])
    assert claims["client_id"] == token["id"]
    assert claims["iss"] == settings.jwt_issuer and "jti" in claims and "iat" in claims
    assert "WWW-Authenticate" not in (await login(api, client_form(token))).headers


async def test_client_credentials_with_basic(api, alice):
    token = await api.create_token(await api.bearer("alice"))
    form = {"grant_type": "client_credentials"}
    body = await granted(await login(api, form, headers=basic(token["id"], token["secret"])))
    assert claims_of(body["access_token"])["tid"] == token["id"]
    # The scheme name is case-insensitive.
    raw = basic(token["id"], token["secret"])["Authorization"].split(" ", 1)[1]
    await granted(await login(api, form, headers={"Authorization": f"bAsIc {raw}"}))
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64; decoded on receipt.
    encoded = basic(token["id"].replace("-", "%2D"), token["secret"].replace("_", "%5F"))
    await granted(await login(api, form, headers=encoded))
    # Not both.
    for extra in ({"client_id": token["id"], "client_secret": token["secret"]},
                  {"client_id": token["id"]}, {"client_secret": token["secret"]}):
        resp = await login(api, {**form, **extra}, headers=basic(token["id"], token["secret"]))
        await oauth_error(resp, 400, "invalid_request")
    # Another scheme is not client authentication.
    resp = await login(api, client_form(token), headers={"Authorization": token["api_key"]})
    await oauth_error(resp, 400, "invalid_request")
    resp = await login(api, form, headers={"Authorization": "Bearer abc"})
    await oauth_error(resp, 400, "invalid_request")


async def test_bad_basic_is_invalid_client_with_challenge(api, alice):
    for header in ("Basic !!!not-base64!!!",
                   "Basic " + "bm8tY29sb24taGVyZQ==",  # "no-colon-here"
                   "Basic " + "bm90LWEtdXVpZDpzZWNyZXQ=",  # "not-a-uuid:secret"
                   "Basic "):
        resp = await login(api, {"grant_type": "client_credentials"},
                           headers={"Authorization": header})
        await oauth_error(resp, 401, "invalid_client")
        assert resp.headers["WWW-Authenticate"].startswith("Basic"), header


async def test_wrong_secret_with_basic_has_challenge(api, alice):
    token = await api.create_token(await api.bearer("alice"))
    wrong = token["secret"][:-1] + ("A" if token["secret"][-1] != "A" else "B")
    resp = await login(api, {"grant_type": "client_credentials"},
                       headers=basic(token["id"], wrong))
    await oauth_error(resp, 401, "invalid_client")
    assert resp.headers["WWW-Authenticate"].startswith("Basic")


async def test_password_grant_refuses_client_authentication(api, alice):
    resp = await login(api, password_form(), headers=basic("x", "y"))
    await oauth_error(resp, 400, "invalid_request")


async def test_scope_narrowing_password_grant(api, alice):
    body = await granted(await login(api, password_form(scope="write:tokens read:tokens")))
    assert body["scope"] == "read:tokens write:tokens"
    assert claims_of(body["access_token"])["scope"] == "read:tokens write:tokens"
    # The JWT really is narrowed.
    resp = await api.client.post("/tokens", json={}, headers=bearer(body["access_token"]))
    made = await resp.json()
    assert resp.status == 201 and made["scopes"] == ["read:tokens", "write:tokens"]
    only_read = await granted(await login(api, password_form(scope="read:pipes")))
    await assert_error(await api.client.get("/tokens", headers=bearer(only_read["access_token"])),
                       403, "insufficient_scope")
    for scope in ("read:users", "read:tokens write:users", "no:such", "READ:TOKENS"):
        await oauth_error(await login(api, password_form(scope=scope)), 400, "invalid_scope")
    await oauth_error(await login(api, password_form(scope="   ")), 400, "invalid_request")


async def test_scope_narrowing_client_credentials(api, alice):
    token = await api.create_token(await api.bearer("alice"),
                                   scopes=["read:pipes", "read:tokens"])
    body = await granted(await login(api, client_form(token, scope="read:tokens")))
    assert body["scope"] == "read:tokens"
    assert claims_of(body["access_token"])["scope"] == "read:tokens"
    for scope in ("write:pipes", "read:pipes write:tokens", "read:users"):
        await oauth_error(await login(api, client_form(token, scope=scope)), 400,
                          "invalid_scope")


MISSING_OR_EMPTY = [
    {},
    {"username": "alice", "password": USER_PASSWORD},
    {"grant_type": "password", "password": USER_PASSWORD},
    {"grant_type": "password", "username": "alice"},
    {"grant_type": "password", "username": "", "password": USER_PASSWORD},
    {"grant_type": "password", "username": "alice", "password": ""},
    {"grant_type": "", "username": "alice", "password": USER_PASSWORD},
    {"grant_type": "client_credentials"},
    {"grant_type": "client_credentials", "client_id": str(uuid.uuid4())},
    {"grant_type": "client_credentials", "client_secret": "x" * 49},
    {"grant_type": "client_credentials", "client_id": "", "client_secret": "x"},
    {"grant_type": "password", "username": "alice", "password": USER_PASSWORD, "scope": ""},
]


async def test_missing_and_empty_parameters(api, alice):
    for form in MISSING_OR_EMPTY:
        await oauth_error(await login(api, form), 400, "invalid_request")


async def test_repeated_parameters(api, alice):
    for body in (
        "grant_type=password&grant_type=password&username=alice&password=user-password-1",
        "grant_type=password&username=alice&username=alice&password=user-password-1",
        "grant_type=password&username=alice&password=user-password-1&password=user-password-1",
        "grant_type=password&username=alice&password=user-password-1&scope=read:pipes&scope=x",
    ):
        resp = await login(api, body,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        await oauth_error(resp, 400, "invalid_request")


async def test_secrets_in_query_string_are_refused(api, alice):
    token = await api.create_token(await api.bearer("alice"))
    resp = await api.client.post(f"/login?password={USER_PASSWORD}", data=password_form())
    await oauth_error(resp, 400, "invalid_request")
    resp = await api.client.post("/login?password=x",
                                 data={"grant_type": "password", "username": "alice"})
    await oauth_error(resp, 400, "invalid_request")
    resp = await api.client.post(f"/login?client_secret={token['secret']}",
                                 data=client_form(token))
    await oauth_error(resp, 400, "invalid_request")
    resp = await api.client.post(
        f"/login?grant_type=client_credentials&client_id={token['id']}"
        f"&client_secret={token['secret']}", data={})
    await oauth_error(resp, 400, "invalid_request")


async def test_unsupported_grant_type(api, alice):
    for grant in ("authorization_code", "refresh_token", "implicit", "PASSWORD",
                  "urn:ietf:params:oauth:grant-type:jwt-bearer"):
        resp = await login(api, {"grant_type": grant, "username": "alice",
                                 "password": USER_PASSWORD})
        await oauth_error(resp, 400, "unsupported_grant_type")


async def test_wrong_content_type(api, alice):
    resp = await api.client.post("/login", json=password_form())
    await oauth_error(resp, 400, "invalid_request")
    form = b"grant_type=password&username=alice&password=user-password-1"
    resp = await api.client.post("/login", data=form, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=no-such-charset"})
    await oauth_error(resp, 400, "invalid_request")
    resp = await api.client.post("/login", data=b"\xff\xfe=\xff", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    await oauth_error(resp, 400, "invalid_request")
    resp = await api.client.post("/login", data=b"grant_type=password",
                                 headers={"Content-Type": "text/plain"})
    await oauth_error(resp, 400, "invalid_request")


async def test_invalid_grant_is_identical_for_unknown_user_and_wrong_password(api, alice):
    wrong = await login(api, password_form(password="wrong-password"))
    unknown = await login(api, password_form(username="nobody", password="wrong-password"))
    impossible = await login(api, password_form(username="no body!", password="x" * 9))
    bodies = [await oauth_error(r, 400, "invalid_grant") for r in (wrong, unknown, impossible)]
    assert bodies[0] == bodies[1] == bodies[2]
    assert "WWW-Authenticate" not in wrong.headers


async def _expect_invalid_client(api, form) -> dict:
    resp = await login(api, form)
    return await oauth_error(resp, 401, "invalid_client")


async def test_invalid_client_for_every_bad_token(api, alice, database_url):
    headers = await api.bearer("alice")
    good = await api.create_token(headers, label="good")
    invalidated = await api.create_token(headers, label="invalidated")
    await api.client.post(f"/tokens/{invalidated['id']}/invalidate", headers=headers)
    expired = await api.create_token(headers, label="expired")
    async with connect(database_url) as conn:
        await conn.execute("UPDATE tokens SET expiration = now() - interval '1 second' "
                           "WHERE id = $1", uuid.UUID(expired["id"]))
    deleted = await api.create_token(headers, label="deleted")
    await api.client.delete(f"/tokens/{deleted['id']}", headers=headers)

    wrong_secret = good["secret"][:-7] + ("A" if good["secret"][-7] != "A" else "B") \
        + good["secret"][-6:]  # a body change: the checksum no longer matches
    other_secret = invalidated["secret"]  # well formed, but another token's
    forms = [
        client_form(invalidated), client_form(expired), client_form(deleted),
        client_form(good, client_secret=wrong_secret),
        client_form(good, client_secret=other_secret),
        client_form({"id": str(uuid.uuid4()), "secret": good["secret"]}),
        client_form({"id": "not-a-uuid", "secret": good["secret"]}),
        client_form({"id": good["id"], "secret": "short"}),
    ]
    bodies = [await _expect_invalid_client(api, form) for form in forms]
    assert all(body == bodies[0] for body in bodies)
    await granted(await login(api, client_form(good)))


async def test_invalid_client_when_owner_deleted(api, admin_headers, alice):
    token = await api.create_token(await api.bearer("alice"))
    await granted(await login(api, client_form(token)))
    assert (await api.client.delete("/users/alice", headers=admin_headers)).status == 204
    await _expect_invalid_client(api, client_form(token))


async def test_jwt_exp_never_after_token_expiration(api, alice):
    soon = datetime.now(UTC) + timedelta(seconds=90)
    token = await api.create_token(await api.bearer("alice"), expiration=soon.isoformat())
    body = await granted(await login(api, client_form(token)))
    claims = claims_of(body["access_token"])
    assert claims["exp"] <= int(soon.timestamp())
    assert body["expires_in"] <= 90
    # A long-lived token gets the normal JWT lifetime.
    forever = await api.create_token(await api.bearer("alice"), expiration=None)
    long = claims_of((await granted(await login(api, client_form(forever))))["access_token"])
    assert long["exp"] - long["iat"] == api.settings.jwt_ttl_seconds


async def test_login_method_and_size(api, alice):
    await assert_error(await api.client.get("/login"), 405, "method_not_allowed")
    resp = await api.client.post(
        "/login",
        data=io.BytesIO(b"grant_type=password&username=alice&password=" + b"x" * 1024 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    await assert_error(resp, 413)


async def test_password_too_long_still_invalid_grant(api, alice):
    # A 1 MB-ish password that fits the body limit is simply wrong, not a crash.
    resp = await login(api, password_form(password="x" * 100_000))
    await oauth_error(resp, 400, "invalid_grant")
