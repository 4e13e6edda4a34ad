"""The Authorization header, parsed once per request into a `Credential`.

Accepted forms: ``Authorization: Bearer <jwt>``, the raw API key
``Authorization: mrsm-key:...`` (as the seed's curl example sends it) and
``Authorization: Bearer mrsm-key:...``. The prefix and the scheme name are matched
case-insensitively. Throttling, the authenticator, the metrics and the access line
all receive the same `Credential`.
"""

from __future__ import annotations

import uuid
from typing import NamedTuple

from service.auth.apikeys import API_KEY_PREFIX, parse_api_key

API_KEY = "api_key"
JWT = "jwt"
UNSUPPORTED = "unsupported"  # a scheme we do not accept: refused like a bad credential

_PREFIX_LEN = len(API_KEY_PREFIX)


class Credential(NamedTuple):
    """What the caller presented: `header` as sent (the cache key), its `kind`, and
    `value`, the API key (canonical prefix) or the JWT."""

    header: str
    kind: str
    value: str

    def key_parts(self) -> tuple[uuid.UUID, str] | None:
        """(client ID, secret) of an API key we could have issued; None for anything else.
        Decoded on demand: a cached credential never needs it."""
        return parse_api_key(self.value) if self.kind == API_KEY else None

    @property
    def client_id(self) -> uuid.UUID | None:
        """The client ID an API key names (what throttling counts failures against)."""
        parts = self.key_parts()
        return parts[0] if parts is not None else None

    @property
    def metric_kind(self) -> str:
        """How the metrics count it: an API key, or a bearer token of any other kind."""
        return API_KEY if self.kind == API_KEY else JWT


def parse_authorization(header: str) -> Credential:
    """The credential in an Authorization header (kind UNSUPPORTED for other schemes)."""
    value = header.strip()
    if value[:_PREFIX_LEN].lower() == API_KEY_PREFIX:
        return Credential(header, API_KEY, API_KEY_PREFIX + value[_PREFIX_LEN:])
    scheme, _, value = value.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return Credential(header, UNSUPPORTED, "")
    if value[:_PREFIX_LEN].lower() == API_KEY_PREFIX:
        return Credential(header, API_KEY, API_KEY_PREFIX + value[_PREFIX_LEN:])
    return Credential(header, JWT, value)
