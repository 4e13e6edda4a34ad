"""The JWT codec: what it issues is exactly what PyJWT would have issued, and decodes."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from service.auth.jwt import JwtCodec

SECRET = "s3cret-ключ-🔑-" + "x" * 24  # not ASCII: used as its UTF-8 bytes, as PyJWT does
OTHER = "another key, as long as the first" + "y" * 8


@pytest.mark.parametrize("claims", [
    {"iss": "mrsm-tokens", "sub": str(uuid.uuid4()), "iat": 1, "exp": 2, "jti": "a",
     "scope": "read:pipes write:pipes", "tid": str(uuid.uuid4())},
    {"iss": "émetteur \"quoted\" \\ ☃", "sub": "x", "iat": 0, "exp": 2**40, "jti": "b" * 64,
     "scope": "", "pwv": 7},
    {},
])
def test_encoding_is_byte_for_byte_pyjwts(claims):
    codec = JwtCodec(SECRET, "mrsm-tokens", 900)
    assert codec.encode(claims) == jwt.encode(claims, SECRET, algorithm="HS256")


def test_an_issued_jwt_carries_the_grant_and_decodes_with_pyjwt_and_the_codec():
    codec = JwtCodec(SECRET, "mrsm-tokens", 900)
    user_id, token_id = uuid.uuid4(), uuid.uuid4()
    token_expiration = datetime.now(UTC) + timedelta(seconds=60)  # sooner than the TTL
    token, exp = codec.issue(user_id=user_id, scopes=["read:pipes", "write:pipes"],
                             token_id=token_id, token_expiration=token_expiration)
    assert exp == int(token_expiration.timestamp())
    payload = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="mrsm-tokens")
    assert payload["sub"] == str(user_id) and payload["tid"] == str(token_id)
    assert payload["scope"] == "read:pipes write:pipes" and payload["exp"] == exp
    assert abs(payload["iat"] - time.time()) < 5 and "pwv" not in payload
    claims = codec.decode(token)
    assert claims is not None and claims.token_id == token_id
    assert claims.scopes == frozenset({"read:pipes", "write:pipes"})


def test_a_jwt_signed_with_another_key_does_not_decode():
    token, _ = JwtCodec(OTHER, "mrsm-tokens", 900).issue(
        user_id=uuid.uuid4(), scopes=["read:pipes"], password_version=1)
    assert JwtCodec(SECRET, "mrsm-tokens", 900).decode(token) is None
    # ... unless that key is the previous one of a rotation.
    assert JwtCodec(SECRET, "mrsm-tokens", 900, previous_secret=OTHER).decode(token)
