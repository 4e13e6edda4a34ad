"""Short-lived HS256 bearers issued by /login.

Decoding (the part that decides what is trusted) is PyJWT's, with the algorithm pinned.
Encoding is the compact serialisation of RFC 7515 written out here, byte for byte what
`jwt.encode(claims, secret, algorithm="HS256")` gives (a test holds it to that): PyJWT
re-examines the key (PEM and SSH patterns) on every call, which was a sixth of the cost of
a client-credentials login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

ALGORITHM = "HS256"
_REQUIRED = ["iss", "sub", "iat", "exp", "jti", "scope"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# PyJWT's JSON: no spaces. One encoder for every payload (json.dumps with options builds
# a new one per call). The header is PyJWT's for HS256, its keys sorted.
_compact = json.JSONEncoder(separators=(",", ":")).encode
_HEADER = _b64(json.dumps({"alg": ALGORITHM, "typ": "JWT"}, separators=(",", ":"),
                          sort_keys=True).encode())


@dataclass(frozen=True)
class Claims:
    user_id: uuid.UUID
    scopes: frozenset[str]
    token_id: uuid.UUID | None
    password_version: int | None
    issued_at: int
    expires_at: int
    jti: str
    # The token's secret version at issue (client credentials); None in older JWTs.
    secret_version: int | None = None


class JwtCodec:
    """Encodes with the current key; decodes with it or, during a rotation, the previous one."""

    def __init__(self, secret: str, issuer: str, ttl_seconds: int,
                 previous_secret: str | None = None) -> None:
        self._signing_key = secret.encode("utf-8")
        self._keys = [secret] + ([previous_secret] if previous_secret else [])
        self.issuer = issuer
        self.ttl_seconds = ttl_seconds

    def issue(
        self,
        *,
        user_id: uuid.UUID,
        scopes: list[str],
        token_id: uuid.UUID | None = None,
        token_expiration: datetime | None = None,
        password_version: int | None = None,
        secret_version: int | None = None,
    ) -> tuple[str, int]:
        """A signed JWT and its expiry (Unix seconds), never past the token's own expiration."""
        now = int(time.time())
        exp = now + self.ttl_seconds
        if token_expiration is not None:
            exp = min(exp, int(token_expiration.timestamp()))
        claims: dict = {
            "iss": self.issuer,
            "sub": str(user_id),
            "iat": now,
            "exp": exp,
            "jti": uuid.uuid4().hex,
            "scope": " ".join(scopes),
        }
        if token_id is not None:
            claims["tid"] = str(token_id)
        if password_version is not None:
            claims["pwv"] = password_version
        if secret_version is not None:
            claims["tsv"] = secret_version
        return self.encode(claims), exp

    def encode(self, claims: dict) -> str:
        """header.payload.signature, HMAC-SHA256 with the current key."""
        payload = _compact(claims).encode("utf-8")
        signing_input = f"{_HEADER}.{_b64(payload)}"
        signature = hmac.new(self._signing_key, signing_input.encode("ascii"),
                             hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

    def decode(self, token: str) -> Claims | None:
        """The claims of a valid, unexpired JWT we issued, or None."""
        if not token.isascii():
            # A JWT is base64url and dots. Header bytes that are not UTF-8 reach us as
            # surrogates, on which PyJWT raises UnicodeEncodeError rather than a PyJWTError.
            return None
        for key in self._keys:
            try:
                payload = jwt.decode(
                    token,
                    key,
                    algorithms=[ALGORITHM],
                    issuer=self.issuer,
                    options={"require": _REQUIRED},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError:
                return None
            return _claims(payload)
        return None


def _claims(payload: dict) -> Claims | None:
    try:
        scope = payload["scope"]
        tid = payload.get("tid")
        pwv = payload.get("pwv")
        tsv = payload.get("tsv")
        if not isinstance(scope, str) or (pwv is not None and type(pwv) is not int) \
                or (tsv is not None and (type(tsv) is not int or tid is None)):
            return None
        if (tid is None) == (pwv is None):
            return None  # exactly one of the two grants
        return Claims(
            user_id=uuid.UUID(payload["sub"]),
            scopes=frozenset(scope.split()),
            token_id=uuid.UUID(tid) if tid is not None else None,
            password_version=pwv,
            issued_at=int(payload["iat"]),
            expires_at=int(payload["exp"]),
            jti=str(payload["jti"]),
            secret_version=tsv,
        )
    except (ValueError, TypeError, AttributeError):
        return None


def expires_iso(exp: int) -> str:
    return datetime.fromtimestamp(exp, UTC).isoformat().replace("+00:00", "Z")
