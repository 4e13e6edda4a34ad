"""Forged JWTs against asymmetric keys (EdDSA, ES256): key confusion, kid games, embedded
keys, other audiences. Every one is a 401 invalid_token, never a 500."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from service.app import create_app
from service.auth import signing
from tests.support.attacks import b64, forge_hs256, stored_key, without_throttling

# They rotate, seal or change the signing keys: each starts and ends with fresh ones.
pytestmark = pytest.mark.usefixtures("fresh_signing_keys")


@pytest.fixture(params=["EdDSA", "ES256"])
async def client(request, aiohttp_client, make_settings):
    """The app signing with a key pair it made (the default algorithm, and ES256)."""
    settings = make_settings(jwt_algorithm=request.param)
    return await aiohttp_client(create_app(without_throttling(settings)))


@pytest.fixture
async def alice(api, client, settings, database_url) -> dict:
    user = await api.create_user("alice")
    now = int(time.time())
    claims = {"iss": settings.issuer, "aud": settings.audience, "sub": str(user["id"]),
              "iat": now, "exp": now + 600, "jti": "j1", "scope": "read:tokens",
              "pwv": user["password_version"]}
    return {"claims": claims, "key": await stored_key(database_url)}


async def status_of(client, token: str) -> int:
    resp = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    body = await resp.json()
    if resp.status != 200:
        assert resp.status == 401 and body["error"] == "invalid_token", body
    return resp.status


async def test_a_jwt_signed_with_the_stored_key_passes_so_the_others_test_something(
        client, alice):
    assert await status_of(client, alice["key"].forge(alice["claims"])) == 200


async def test_hs256_with_the_public_key_as_the_secret_is_refused(client, alice):
    """The classic confusion: a verifier that lets the header pick HMAC and then uses the
    public key (PEM, raw, or its JWK) as the HMAC secret."""
    key = alice["key"]
    public = key.private.public_key()
    jwk = signing.public_jwk(public)
    for secret in (key.public_pem(), key.public_pem().strip(), signing.private_der(key.private),
                   jwk["x"].encode(), b64({**jwk, "kid": key.kid}).encode()):
        assert await status_of(client, forge_hs256(alice["claims"], secret, kid=key.kid)) == 401


async def test_alg_none_and_other_algorithms_with_our_kid_are_refused(client, alice):
    key = alice["key"]
    unsigned = f"{b64({'alg': 'none', 'kid': key.kid, 'typ': 'at+jwt'})}.{b64(alice['claims'])}."
    assert await status_of(client, unsigned) == 401
    # Another asymmetric algorithm, signed with the attacker's key, under our kid.
    other = (ec.generate_private_key(ec.SECP256R1()) if key.alg == "EdDSA"
             else ed25519.Ed25519PrivateKey.generate())
    alg = "ES256" if key.alg == "EdDSA" else "EdDSA"
    forged = jwt.encode(alice["claims"], other, algorithm=alg,
                        headers={"kid": key.kid, "typ": "at+jwt"})
    assert await status_of(client, forged) == 401


async def test_an_unknown_kid_or_a_foreign_key_under_our_kid_is_refused(client, alice):
    key = alice["key"]
    mine = (ed25519.Ed25519PrivateKey.generate() if key.alg == "EdDSA"
            else ec.generate_private_key(ec.SECP256R1()))
    my_kid = signing.thumbprint(signing.public_jwk(mine.public_key()))
    assert await status_of(client, key.forge(alice["claims"], key=mine, kid=my_kid)) == 401
    assert await status_of(client, key.forge(alice["claims"], key=mine)) == 401


@pytest.mark.parametrize("kid", [
    "../../../../etc/passwd", "' OR '1'='1", "x" * 4000, "", "\u0000", 1, ["a"], {"a": 1},
])
async def test_kid_injection_is_refused(client, alice, kid):
    assert await status_of(client, alice["key"].forge(alice["claims"], kid=kid)) == 401


async def test_a_key_embedded_in_the_header_is_not_trusted(client, alice):
    """jwk / jku / x5u: a verifier must never take the key from the token itself."""
    key = alice["key"]
    mine = (ed25519.Ed25519PrivateKey.generate() if key.alg == "EdDSA"
            else ec.generate_private_key(ec.SECP256R1()))
    embedded = {**signing.public_jwk(mine.public_key()), "alg": key.alg}
    for extra in ({"jwk": embedded}, {"jku": "http://127.0.0.1:1/jwks.json"},
                  {"x5u": "http://127.0.0.1:1/cert.pem"}):
        forged = key.forge(alice["claims"], key=mine, **extra)
        assert await status_of(client, forged) == 401


@pytest.mark.parametrize("change", [
    {"aud": "another-service"}, {"aud": ["another-service"]}, {"aud": None},
    {"iss": "http://evil.test"}, {"iss": None},
])
async def test_a_well_signed_jwt_for_another_audience_or_issuer_is_refused(client, alice,
                                                                          change):
    claims = {k: v for k, v in {**alice["claims"], **change}.items() if v is not None}
    assert await status_of(client, alice["key"].forge(claims)) == 401


@pytest.mark.parametrize("typ", ["JWT", "jwt", "application/at+jwt+x", None])
async def test_a_well_signed_jwt_of_another_typ_is_refused(client, alice, typ):
    assert await status_of(client, alice["key"].forge(alice["claims"], typ=typ)) == 401
