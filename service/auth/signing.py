"""Signing keys: the material (Ed25519, P-256 or an HMAC secret), its JWK, its sealing at rest,
and the ring that says which key signs now and which ones are accepted.

A key's `kid` is its RFC 7638 thumbprint (an HMAC key's: a digest of the secret, which tells
nothing of it). Each key carries its JOSE header ready made, so issuing a JWT costs one JSON
encoding of the claims and one signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

EDDSA, ES256, HS256 = "EdDSA", "ES256", "HS256"
ASYMMETRIC = (EDDSA, ES256)
TYP = "at+jwt"  # RFC 9068 §2.1
_NONCE = 12


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8")


def header_of(alg: str, kid: str) -> str:
    """The encoded JOSE header, as PyJWT writes it (keys sorted, no spaces)."""
    return b64url(_compact({"alg": alg, "kid": kid, "typ": TYP}))


# --- the material ----------------------------------------------------------------------


def generate(alg: str):
    """A new private key for `alg`."""
    if alg == EDDSA:
        return ed25519.Ed25519PrivateKey.generate()
    if alg == ES256:
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"no key pairs for {alg}")


def public_jwk(public_key) -> dict[str, str]:
    """The RFC 7517 members that define the public key (RFC 7638's required set)."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw,
                                      serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}
    numbers = public_key.public_numbers()
    return {"crv": "P-256", "kty": "EC", "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big"))}


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_of(jwk: dict[str, str]):
    """The public key object of a JWK that `public_jwk` wrote."""
    if jwk["kty"] == "OKP":
        return ed25519.Ed25519PublicKey.from_public_bytes(_unb64(jwk["x"]))
    return ec.EllipticCurvePublicNumbers(int.from_bytes(_unb64(jwk["x"]), "big"),
                                         int.from_bytes(_unb64(jwk["y"]), "big"),
                                         ec.SECP256R1()).public_key()


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, without spaces."""
    required = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("crv", "kty", "x")
    return b64url(hashlib.sha256(_compact({k: jwk[k] for k in required})).digest())


def hmac_kid(secret: bytes) -> str:
    return "hs256-" + b64url(hashlib.sha256(b"mrsm-jwt-kid\0" + secret).digest())[:22]


# --- sealing the private key at rest --------------------------------------------------


class SealError(Exception):
    """A stored private key that cannot be opened (no KEY_ENCRYPTION_KEY, or another one)."""


def _aead(kek: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"mrsm signing keys v1").derive(kek.encode("utf-8"))
    return AESGCM(key)


def private_der(private_key) -> bytes:
    return private_key.private_bytes(serialization.Encoding.DER,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())


def seal(der: bytes, kid: str, kek: str | None) -> tuple[bytes, bool]:
    """(what to store, whether it is encrypted): AES-256-GCM under a key derived from `kek`,
    bound to `kid` so that a sealed key copied onto another row does not open."""
    if kek is None:
        return der, False
    nonce = os.urandom(_NONCE)
    return nonce + _aead(kek).encrypt(nonce, der, kid.encode("ascii")), True


def unseal(stored: bytes, encrypted: bool, kid: str, kek: str | None):
    """The private key object, or SealError."""
    der = stored
    if encrypted:
        if kek is None:
            raise SealError("the signing keys are encrypted: set KEY_ENCRYPTION_KEY")
        try:
            der = _aead(kek).decrypt(stored[:_NONCE], stored[_NONCE:], kid.encode("ascii"))
        except InvalidTag:
            raise SealError("KEY_ENCRYPTION_KEY does not open the stored signing keys") from None
    return serialization.load_der_private_key(der, password=None)


# --- keys and the ring -------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SigningKey:
    """One key: `verify_key` is what PyJWT checks signatures with (a public key object, or an
    HMAC secret); `private` signs (None where this process cannot open it). Times are Unix
    seconds: published from `published_at`, signing from `signs_from`, accepted until
    `retire_at` (None: no successor yet)."""

    kid: str
    alg: str
    verify_key: Any
    private: Any
    jwk: dict[str, str] | None
    published_at: float
    signs_from: float
    retire_at: float | None = None

    @cached_property  # made on the first JWT it signs, then reused
    def header(self) -> str:
        return header_of(self.alg, self.kid)

    def sign(self, data: bytes) -> bytes:
        if self.alg == HS256:
            return hmac.new(self.private, data, hashlib.sha256).digest()
        if self.alg == EDDSA:
            return self.private.sign(data)
        r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")  # RFC 7518 §3.4: R || S

    def published_jwk(self) -> dict[str, str]:
        assert self.jwk is not None
        return {**self.jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


def hmac_key(secret: str, signs_from: float = 0.0) -> SigningKey:
    raw = secret.encode("utf-8")
    return SigningKey(hmac_kid(raw), HS256, raw, raw, None, 0.0, signs_from)


class KeyRing:
    """The keys this process knows; which signs and which verify is a matter of the time."""

    def __init__(self, keys: Iterable[SigningKey] = ()) -> None:
        self.replace(keys)

    @classmethod
    def hmac(cls, secret: str, previous: str | None = None) -> KeyRing:
        """HS256: the secret signs; the previous one (a rotation under way) only verifies."""
        keys = [hmac_key(secret, signs_from=1.0)]
        if previous:
            keys.append(hmac_key(previous, signs_from=0.0))
        return cls(keys)

    def replace(self, keys: Iterable[SigningKey]) -> None:
        # Newest signer first: `signing` takes the first whose time has come.
        ordered = sorted(keys, key=lambda k: k.signs_from, reverse=True)
        self._by_kid = {key.kid: key for key in ordered}
        self._signers = [key for key in ordered if key.private is not None]

    def __len__(self) -> int:
        return len(self._by_kid)

    def signing(self, now: float) -> SigningKey:
        for key in self._signers:
            if key.signs_from <= now and (key.retire_at is None or now < key.retire_at):
                return key
        raise RuntimeError("no signing key is usable now")

    def verifying(self, kid: str, now: float) -> SigningKey | None:
        """The key of `kid` if it is published and not retired at `now`."""
        key = self._by_kid.get(kid)
        if key is None or now < key.published_at:
            return None
        if key.retire_at is not None and now >= key.retire_at:
            return None
        return key

    def published(self, now: float) -> list[SigningKey]:
        """The public keys to publish: the next, the current and the still-valid previous."""
        return [key for key in self._by_kid.values()
                if key.jwk is not None and self.verifying(key.kid, now) is not None]
