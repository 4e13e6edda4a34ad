"""Short-lived access tokens issued by /login: RFC 9068 JWTs signed by the key ring.

Decoding (the part that decides what is trusted) is PyJWT's, with the algorithm pinned to
that of the key the header's `kid` names, and `typ`, `iss` and `aud` checked. Encoding is
the compact serialisation of RFC 7515 written out here, byte for byte what `jwt.encode`
gives (a test holds it to that): PyJWT re-examines the key on every call, which was a sixth
of the cost of a client-credentials login.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from service.auth.pipe_access import MAX_PATTERNS, Pattern
from service.auth.signing import TYP, KeyRing, b64url

# RFC 9396: a JWT of a token bound to pipes carries
#   "authorization_details": [{"type": "mrsm_pipes", "pipes": ["mqtt:garden/*/*", ...]}]
PIPES_DETAIL = "mrsm_pipes"

_REQUIRED = ["iss", "sub", "aud", "iat", "exp", "jti", "scope"]

# PyJWT's JSON: no spaces. One encoder for every payload (json.dumps with options builds
# a new one per call).
_compact = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True)
class Claims:
    user_id: uuid.UUID
    scopes: frozenset[str]
    token_id: uuid.UUID | None
    password_version: int | None
    issued_at: int
    expires_at: int
    jti: str
    pipes: tuple[str, ...] | None = None  # from authorization_details; None: not bound
    # The token's secret version at issue (client credentials); None in older JWTs.
    secret_version: int | None = None


class JwtCodec:
    """Encodes with the key that signs now; decodes with any key the ring still accepts.

    `keys` is shared with whoever keeps it current (service.auth.keystore for key pairs in
    the database; `KeyRing.hmac` for HS256 secrets)."""

    def __init__(self, keys: KeyRing, issuer: str, ttl_seconds: int,
                 audience: str | None = None) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience or issuer
        self.ttl_seconds = ttl_seconds

    def issue(
        self,
        *,
        user_id: uuid.UUID,
        scopes: list[str],
        token_id: uuid.UUID | None = None,
        token_expiration: datetime | None = None,
        password_version: int | None = None,
        pipes: list[str] | None = None,
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
            "aud": self.audience,
            "iat": now,
            "exp": exp,
            "jti": uuid.uuid4().hex,
            "scope": " ".join(scopes),
        }
        if token_id is not None:
            claims["tid"] = str(token_id)
            claims["client_id"] = str(token_id)  # RFC 9068 §2.2: the client-credentials grant
        if password_version is not None:
            claims["pwv"] = password_version
        if pipes is not None:
            claims["authorization_details"] = [{"type": PIPES_DETAIL, "pipes": list(pipes)}]
        if secret_version is not None:
            claims["tsv"] = secret_version
        return self.encode(claims), exp

    def encode(self, claims: dict) -> str:
        """header.payload.signature, signed by the key that signs now (its `kid` in the header)."""
        key = self.keys.signing(time.time())
        payload = _compact(claims).encode("utf-8")
        signing_input = f"{key.header}.{b64url(payload)}"
        return f"{signing_input}.{b64url(key.sign(signing_input.encode('ascii')))}"

    def decode(self, token: str) -> Claims | None:
        """The claims of a valid, unexpired JWT we issued, or None."""
        if not token.isascii():
            # A JWT is base64url and dots. Header bytes that are not UTF-8 reach us as
            # surrogates, on which PyJWT raises UnicodeEncodeError rather than a PyJWTError.
            return None
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            if header.get("typ") != TYP or not isinstance(kid, str):
                return None
            key = self.keys.verifying(kid, time.time())
            if key is None:
                return None
            # The algorithm is the key's, whatever the header says (no key confusion).
            payload = jwt.decode(token, key.verify_key, algorithms=[key.alg],
                                 issuer=self.issuer, audience=self.audience,
                                 options={"require": _REQUIRED})
        except jwt.PyJWTError:
            return None
        return _claims(payload)


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
            pipes=_pipes_claim(payload.get("authorization_details")),
            secret_version=tsv,
        )
    except (ValueError, TypeError, AttributeError):
        return None


def _pipes_claim(details: object) -> tuple[str, ...] | None:
    """The patterns of the one `mrsm_pipes` authorization detail; None without one.
    Anything malformed raises ValueError: the JWT is refused, never read as unbound."""
    if details is None:
        return None
    if not isinstance(details, list):
        raise ValueError("authorization_details is not an array")
    found = None
    for detail in details:
        if not isinstance(detail, dict) or not isinstance(detail.get("type"), str):
            raise ValueError("an authorization detail without a type")
        if detail["type"] != PIPES_DETAIL:
            continue  # another type: not ours to read
        pipes = detail.get("pipes")
        if found is not None or not isinstance(pipes, list) \
                or not 1 <= len(pipes) <= MAX_PATTERNS \
                or not all(isinstance(p, str) for p in pipes):
            raise ValueError("a malformed pipes detail")
        found = tuple(str(Pattern.parse(p)) for p in pipes)
    return found


def expires_iso(exp: int) -> str:
    return datetime.fromtimestamp(exp, UTC).isoformat().replace("+00:00", "Z")
