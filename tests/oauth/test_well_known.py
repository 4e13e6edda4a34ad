"""GET /.well-known/oauth-authorization-server (RFC 8414) and /.well-known/jwks.json."""

from __future__ import annotations

import jwt
import pytest

from service.app import create_app
from service.auth import keystore
from service.auth.scopes import SCOPES

# They rotate, seal or change the signing keys: each starts and ends with fresh ones.
pytestmark = pytest.mark.usefixtures("fresh_signing_keys")


async def test_the_metadata_names_every_endpoint_under_the_issuer(api, settings):
    resp = await api.client.get("/.well-known/oauth-authorization-server")
    assert resp.status == 200 and resp.content_type == "application/json"
    meta = await resp.json()
    issuer = settings.issuer
    assert issuer == "http://127.0.0.1:8000"  # ISSUER_URL unset: from HOST and PORT
    assert meta["issuer"] == issuer
    assert meta["token_endpoint"] == issuer + "/login"
    assert meta["jwks_uri"] == issuer + "/.well-known/jwks.json"
    assert meta["introspection_endpoint"] == issuer + "/introspect"
    assert meta["revocation_endpoint"] == issuer + "/revoke"
    assert meta["grant_types_supported"] == ["password", "client_credentials"]
    assert meta["response_types_supported"] == []
    assert meta["scopes_supported"] == list(SCOPES)
    methods = ["client_secret_basic", "client_secret_post"]
    for endpoint in ("token", "introspection", "revocation"):
        assert meta[f"{endpoint}_endpoint_auth_methods_supported"] == methods


async def test_issuer_url_sets_the_issuer_and_the_iss_of_every_jwt(aiohttp_client, api,
                                                                   make_settings):
    settings = make_settings(issuer_url="https://auth.example.test/mrsm")
    client = await aiohttp_client(create_app(settings))
    meta = await (await client.get("/.well-known/oauth-authorization-server")).json()
    assert meta["issuer"] == "https://auth.example.test/mrsm"
    assert meta["token_endpoint"] == "https://auth.example.test/mrsm/login"
    await api.create_user("alice")
    resp = await client.post("/login", data={"grant_type": "password", "username": "alice",
                                             "password": "user-password-1"})
    claims = jwt.decode((await resp.json())["access_token"], options={"verify_signature": False})
    assert claims["iss"] == claims["aud"] == "https://auth.example.test/mrsm"


async def test_the_jwks_publishes_the_signing_key_and_verifies_its_jwts(api, settings):
    resp = await api.client.get("/.well-known/jwks.json")
    assert resp.status == 200 and resp.content_type == "application/jwk-set+json"
    max_age = int(resp.headers["Cache-Control"].rsplit("=", 1)[1])
    assert resp.headers["Cache-Control"].startswith("public")
    assert 0 < max_age < keystore.prepublish_seconds(settings)
    keys = (await resp.json(content_type=None))["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert set(key) == {"kty", "crv", "x", "kid", "alg", "use"}  # public members only
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    await api.create_user("alice")
    token = await api.login("alice", "user-password-1")
    assert jwt.get_unverified_header(token)["kid"] == key["kid"]
    claims = jwt.decode(token, jwt.PyJWK(key), algorithms=["EdDSA"], issuer=settings.issuer,
                        audience=settings.audience)
    assert claims["sub"]


async def test_es256_keys_are_published_as_p256(aiohttp_client, make_settings):
    client = await aiohttp_client(create_app(make_settings(jwt_algorithm="ES256")))
    keys = (await (await client.get("/.well-known/jwks.json")).json(content_type=None))["keys"]
    assert [(k["kty"], k["crv"], k["alg"]) for k in keys] == [("EC", "P-256", "ES256")]
    assert set(keys[0]) == {"kty", "crv", "x", "y", "kid", "alg", "use"}


async def test_under_hs256_the_jwks_is_empty(aiohttp_client, make_settings):
    client = await aiohttp_client(create_app(make_settings(jwt_algorithm="HS256")))
    resp = await client.get("/.well-known/jwks.json")
    assert resp.status == 200 and await resp.json(content_type=None) == {"keys": []}


async def test_the_documents_are_public_and_ignore_credentials(api):
    for path in ("/.well-known/jwks.json", "/.well-known/oauth-authorization-server"):
        resp = await api.client.get(path, headers={"Authorization": "Bearer garbage"})
        assert resp.status == 200
