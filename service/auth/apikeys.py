"""Client secrets and API keys.

A secret is 32 random bytes (256 bits) in URL-safe base64, followed by six
characters of checksum, so a mistyped or forged key is refused before any
database work. Only SHA-256 of the secret is stored: for a 256-bit random
secret a slow hash adds no security and would cost every IoT request
milliseconds (argon2id is kept for low-entropy passwords).

The API key is exactly ``mrsm-key:`` + standard base64 of ``"{client_id}:{secret}"``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import uuid
import zlib

API_KEY_PREFIX = "mrsm-key:"
_BODY_BYTES = 32
_BODY_CHARS = 43  # len(urlsafe_b64encode(32 bytes)) without padding
_CHECK_CHARS = 6
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode("ascii"))
    chars = []
    for _ in range(_CHECK_CHARS):
        value, digit = divmod(value, 62)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_secret() -> str:
    body = secrets.token_urlsafe(_BODY_BYTES)
    return body + _checksum(body)


def secret_well_formed(secret: str) -> bool:
    """Shape and checksum only: says nothing of whether the secret is anyone's."""
    if len(secret) != _BODY_CHARS + _CHECK_CHARS or not secret.isascii():
        return False
    body, check = secret[:_BODY_CHARS], secret[_BODY_CHARS:]
    return hmac.compare_digest(_checksum(body), check)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def secret_matches(secret: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_secret(secret), bytes(stored_hash))


def make_api_key(client_id: uuid.UUID | str, secret: str) -> str:
    raw = f"{client_id}:{secret}".encode()
    return API_KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def parse_client_id(value: str) -> uuid.UUID | None:
    """A canonical UUID, or None. Case-insensitive, hyphenated form only."""
    if len(value) != 36:
        return None
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return parsed if str(parsed) == value.lower() else None


def parse_api_key(api_key: str) -> tuple[uuid.UUID, str] | None:
    """(client_id, secret) from an API key, or None if it is not one we could have issued."""
    if not api_key.startswith(API_KEY_PREFIX) or len(api_key) > 200:
        return None
    try:
        raw = base64.b64decode(api_key[len(API_KEY_PREFIX):], validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    client_id_text, sep, secret = raw.partition(":")
    client_id = parse_client_id(client_id_text)
    if not sep or client_id is None or not secret_well_formed(secret):
        return None
    return client_id, secret
