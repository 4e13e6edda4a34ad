"""The JWT codec and its key ring: what it issues is exactly what PyJWT would have issued,
carries RFC 9068's header and claims, and decodes only under a key the ring accepts now."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from service.auth import signing
from service.auth.jwt import JwtCodec
from service.auth.signing import KeyRing, SigningKey

SECRET = "s3cret-ключ-🔑-" + "x" * 24  # not ASCII: used as its UTF-8 bytes, as PyJWT does
OTHER = "another key, as long as the first" + "y" * 8
ISSUER = "https://auth.example.test"


def pair(alg: str, *, published_at: float = 0.0, signs_from: float = 0.0,
         retire_at: float | None = None) -> SigningKey:
    private = signing.generate(alg)
    jwk = signing.public_jwk(private.public_key())
    return SigningKey(signing.thumbprint(jwk), alg, private.public_key(), private, jwk,
                      published_at, signs_from, retire_at)


def codec_of(*keys: SigningKey) -> JwtCodec:
    return JwtCodec(KeyRing(keys), ISSUER, 900)


CLAIMS = [
    {"iss": ISSUER, "sub": str(uuid.uuid4()), "iat": 1, "exp": 2, "jti": "a",
     "scope": "read:pipes write:pipes", "tid": str(uuid.uuid4())},
    {"iss": "émetteur \"quoted\" \\ ☃", "sub": "x", "iat": 0, "exp": 2**40, "jti": "b" * 64,
     "scope": "", "pwv": 7},
    {},
]


@pytest.mark.parametrize("claims", CLAIMS)
def test_hs256_encoding_is_byte_for_byte_pyjwts(claims):
    ring = KeyRing.hmac(SECRET)
    kid = signing.hmac_kid(SECRET.encode())
    assert JwtCodec(ring, ISSUER, 900).encode(claims) == jwt.encode(
        claims, SECRET, algorithm="HS256", headers={"kid": kid, "typ": "at+jwt"})


@pytest.mark.parametrize("claims", CLAIMS)
def test_eddsa_encoding_is_byte_for_byte_pyjwts(claims):
    key = pair("EdDSA")  # Ed25519 signatures are deterministic
    assert codec_of(key).encode(claims) == jwt.encode(
        claims, key.private, algorithm="EdDSA", headers={"kid": key.kid, "typ": "at+jwt"})


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "HS256"])
def test_an_issued_jwt_is_an_rfc_9068_access_token(alg):
    codec = JwtCodec(KeyRing.hmac(SECRET), ISSUER, 900) if alg == "HS256" else codec_of(pair(alg))
    user_id, token_id = uuid.uuid4(), uuid.uuid4()
    token_expiration = datetime.now(UTC) + timedelta(seconds=60)  # sooner than the TTL
    token, exp = codec.issue(user_id=user_id, scopes=["read:pipes", "write:pipes"],
                             token_id=token_id, token_expiration=token_expiration)
    assert exp == int(token_expiration.timestamp())
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt" and header["alg"] == alg
    key = codec.keys.verifying(header["kid"], time.time())
    payload = jwt.decode(token, key.verify_key, algorithms=[alg], issuer=ISSUER,
                         audience=ISSUER)
    assert payload["sub"] == str(user_id) and payload["tid"] == str(token_id)
    assert payload["client_id"] == str(token_id) and payload["aud"] == ISSUER
    assert payload["scope"] == "read:pipes write:pipes" and payload["exp"] == exp
    assert abs(payload["iat"] - time.time()) < 5 and "pwv" not in payload
    claims = codec.decode(token)
    assert claims is not None and claims.token_id == token_id
    assert claims.scopes == frozenset({"read:pipes", "write:pipes"})


def test_the_audience_is_configurable_and_checked():
    key = pair("EdDSA")
    ours = JwtCodec(KeyRing([key]), ISSUER, 900, audience="pipes-api")
    token, _ = ours.issue(user_id=uuid.uuid4(), scopes=[], password_version=1)
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == "pipes-api"
    assert ours.decode(token) is not None
    assert JwtCodec(KeyRing([key]), ISSUER, 900).decode(token) is None  # aud = issuer there


def test_a_jwt_signed_with_another_key_does_not_decode():
    token, _ = JwtCodec(KeyRing.hmac(OTHER), ISSUER, 900).issue(
        user_id=uuid.uuid4(), scopes=["read:pipes"], password_version=1)
    assert JwtCodec(KeyRing.hmac(SECRET), ISSUER, 900).decode(token) is None
    # ... unless that key is the previous one of a rotation.
    assert JwtCodec(KeyRing.hmac(SECRET, OTHER), ISSUER, 900).decode(token)
    token, _ = codec_of(pair("EdDSA")).issue(user_id=uuid.uuid4(), scopes=[],
                                             password_version=1)
    assert codec_of(pair("EdDSA")).decode(token) is None


def test_the_ring_signs_with_the_newest_key_whose_time_has_come():
    now = time.time()
    old = pair("EdDSA", signs_from=now - 100, retire_at=now + 50)
    current = pair("EdDSA", published_at=now - 20, signs_from=now - 10, retire_at=now + 200)
    upcoming = pair("EdDSA", published_at=now - 1, signs_from=now + 30)
    ring = KeyRing([old, current, upcoming])
    assert ring.signing(now) is current
    assert ring.signing(now + 31) is upcoming
    assert {k.kid for k in ring.published(now)} == {old.kid, current.kid, upcoming.kid}
    assert ring.verifying(upcoming.kid, now) is upcoming  # published before it signs
    assert ring.verifying(old.kid, now + 50) is None  # retired
    assert {k.kid for k in ring.published(now + 60)} == {current.kid, upcoming.kid}
    assert ring.verifying("no-such-kid", now) is None


def test_a_jwt_of_a_retired_key_no_longer_decodes():
    now = time.time()
    retiring = pair("EdDSA", signs_from=now - 10, retire_at=now + 1.5)
    codec = codec_of(retiring)
    token, _ = codec.issue(user_id=uuid.uuid4(), scopes=[], password_version=1)
    assert codec.decode(token) is not None
    codec.keys.replace([pair("EdDSA", signs_from=now - 5),
                        SigningKey(retiring.kid, "EdDSA", retiring.verify_key, None,
                                   retiring.jwk, 0.0, now - 10, now - 1)])
    assert codec.decode(token) is None


def test_sealed_private_keys_open_only_with_their_key_and_row():
    private = signing.generate("EdDSA")
    der = signing.private_der(private)
    kek = "k" * 32
    stored, encrypted = signing.seal(der, "kid-1", kek)
    assert encrypted and der not in stored
    opened = signing.unseal(stored, True, "kid-1", kek)
    assert signing.private_der(opened) == der
    for kid, key in (("kid-1", "another key-encryption key, long"), ("kid-2", kek),
                     ("kid-1", None)):
        with pytest.raises(signing.SealError):
            signing.unseal(stored, True, kid, key)
    assert signing.seal(der, "kid-1", None) == (der, False)


def test_a_public_key_survives_its_jwk_and_kids_are_rfc_7638_thumbprints():
    for alg in ("EdDSA", "ES256"):
        public = signing.generate(alg).public_key()
        jwk = signing.public_jwk(public)
        assert signing.public_jwk(signing.public_key_of(jwk)) == jwk
    # RFC 8037 appendix A.3: the thumbprint of its Ed25519 example key.
    example = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert signing.thumbprint(example) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
