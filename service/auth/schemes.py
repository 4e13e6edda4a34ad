"""The Authorization header, as one `Credential` per request.

Accepted forms: ``Authorization: Bearer <jwt>``, the raw API key
``Authorization: mrsm-key:...`` (as the seed's curl example sends it) and
``Authorization: Bearer mrsm-key:...``. The prefix and the scheme name are matched
case-insensitively. Throttling, the authenticator, the metrics and the access line
all receive the same `Credential`.
"""

from __future__ import annotations

import uuid

from service.auth.apikeys import API_KEY_PREFIX, parse_api_key

API_KEY = "api_key"
JWT = "jwt"
UNSUPPORTED = "unsupported"  # a scheme we do not accept: refused like a bad credential

_PREFIX_LEN = len(API_KEY_PREFIX)


class Credential:
    """What the caller sent in Authorization: `header` as sent (the cache key), and its
    `kind` and `value` (the API key with its canonical prefix, or the JWT).

    One value per request, handed to throttling, the authenticator, the metrics and the
    access line. The header is split into kind and value on first use, once: a
    credential found in the cache is never split at all.
    """

    __slots__ = ("header", "_split")

    def __init__(self, header: str) -> None:
        self.header = header
        self._split: tuple[str, str] | None = None

    @property
    def kind(self) -> str:
        """API_KEY, JWT, or UNSUPPORTED (a scheme we do not accept)."""
        return self._parts()[0]

    @property
    def value(self) -> str:
        return self._parts()[1]

    def _parts(self) -> tuple[str, str]:
        if self._split is None:
            self._split = _split(self.header)
        return self._split

    def key_parts(self) -> tuple[uuid.UUID, str] | None:
        """(client ID, secret) of an API key we could have issued; None for anything else."""
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


def _split(header: str) -> tuple[str, str]:
    value = header.strip()
    if value[:_PREFIX_LEN].lower() == API_KEY_PREFIX:
        return API_KEY, API_KEY_PREFIX + value[_PREFIX_LEN:]
    scheme, _, value = value.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return UNSUPPORTED, ""
    if value[:_PREFIX_LEN].lower() == API_KEY_PREFIX:
        return API_KEY, API_KEY_PREFIX + value[_PREFIX_LEN:]
    return JWT, value
