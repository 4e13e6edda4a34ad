"""Attack tests' settings: a JWT key the tests know (to forge tokens with), no throttling;
forging JWTs with it or with the key pair the service stored."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import asyncpg
import jwt
from cryptography.hazmat.primitives import serialization

from service.auth.signing import hmac_kid

JWT_KEY = "attack-tests-signing-key-" + "k" * 48  # 64+ bytes: long enough for HS512 too


def without_throttling(settings):
    """The settings with failed-login throttling off, where the service has it: attack tests
    make many failures on purpose and check each answer, not the throttle's."""
    abuse = getattr(settings, "abuse", None)
    if abuse is None or not hasattr(abuse, "throttle_enabled"):
        return settings
    return dataclasses.replace(settings, abuse=dataclasses.replace(abuse, throttle_enabled=False))


# --- forging JWTs as the service would sign them ------------------------------------------

JWT_KID = hmac_kid(JWT_KEY.encode())  # the kid the service gives JWT_KEY under HS256


def b64(data: bytes | dict) -> str:
    if isinstance(data, dict):
        data = json.dumps(data).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge_hs256(claims: dict, key: str | bytes = JWT_KEY, *, algorithm: str = "HS256",
                **header) -> str:
    """A JWT HMAC-signed by hand with `key` (any bytes, even a public key's PEM, which
    PyJWT refuses to use), with our header (kid of JWT_KEY, typ at+jwt) unless changed
    (a member given None is left out)."""
    secret = key.encode() if isinstance(key, str) else key
    head = {k: v for k, v in {"alg": algorithm, "kid": JWT_KID, "typ": "at+jwt",
                              **header}.items() if v is not None}  # None: member left out
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    signing_input = f"{b64(head)}.{b64(claims)}"
    signature = hmac.new(secret, signing_input.encode(), digest[algorithm]).digest()
    return f"{signing_input}.{b64(signature)}"


@dataclass(frozen=True)
class StoredKey:
    """The key pair signing now, read from the service's table (unencrypted in tests)."""

    kid: str
    alg: str
    private: Any

    def forge(self, claims: dict, *, key: Any = None, **header) -> str:
        """`claims` signed with this key (or `key`), our header unless changed (a member
        given None is left out; any JSON value goes, which jwt.encode would refuse)."""
        head = {k: v for k, v in {"alg": self.alg, "kid": self.kid, "typ": "at+jwt",
                                  **header}.items() if v is not None}
        signing_input = f"{b64(head)}.{b64(claims)}".encode()
        algorithm = jwt.PyJWS().get_algorithm_by_name(self.alg)
        return f"{signing_input.decode()}.{b64(algorithm.sign(signing_input, key or self.private))}"

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)


async def stored_key(dsn: str) -> StoredKey:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow("SELECT kid, alg, private_key FROM signing_keys "
                                  "WHERE signs_from <= now() ORDER BY signs_from DESC LIMIT 1")
    finally:
        await conn.close()
    assert row is not None, "the service has not made a signing key"
    return StoredKey(row["kid"], row["alg"],
                     serialization.load_der_private_key(bytes(row["private_key"]), None))
