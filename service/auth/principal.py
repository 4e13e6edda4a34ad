"""Who is calling: what the front puts on the request for handlers.

A principal is immutable and compared by identity: the credential cache hands the
same object to every request with the same credential until it is dropped, so what
is derived from a principal alone can be cached by it (`functools.lru_cache`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv4Network, IPv6Network

from multidict import istr

from service.auth.pipe_access import PipeAccess
from service.auth.scopes import ADMIN_ONLY_SCOPES, ALL_SCOPES
from service.validation import isoformat

# A token's expiration, on every answer to a request it authenticates.
TOKEN_EXPIRES = istr("Mrsm-Token-Expires")
# When the previous secret of a rotated token stops working, on answers to requests made
# with that secret: a device learns from its own traffic that it must switch.
TOKEN_ROTATED = istr("Mrsm-Token-Rotated")
# Both as /openapi.json describes them.
NOTICE_HEADERS = {
    str(TOKEN_EXPIRES): {
        "description": "The token's expiration (RFC 3339, UTC), on every answer to a request "
                       "a token authenticated; absent for a token that never expires and for "
                       "password sessions.",
        "schema": {"type": "string", "format": "date-time"}},
    str(TOKEN_ROTATED): {
        "description": "When the token's previous secret stops working, on answers to "
                       "requests made with that secret after a rotation.",
        "schema": {"type": "string", "format": "date-time"}},
}


@dataclass(frozen=True, eq=False)
class Principal:
    user_id: uuid.UUID
    username: str
    user_type: str
    scopes: frozenset[str]  # effective: what this credential may do right now
    kind: str  # "api_key" or "jwt"
    token_id: uuid.UUID | None = None
    token_label: str | None = None
    expires_at: datetime | None = None  # the token's expiration, if any
    user_created_at: datetime | None = None
    # The token's own limits (service.abuse): requests per minute, source networks.
    rate_limit: int | None = None
    allowed_cidrs: tuple[IPv4Network | IPv6Network, ...] | None = None
    # The pipes it may reach, compiled once (the principal is cached); None: every pipe.
    pipes: PipeAccess | None = None
    # The token's secret version: a JWT from the client-credentials grant carries it.
    secret_version: int | None = None
    # Set when the credential is a token's previous secret: when it stops working.
    rotated_until: datetime | None = None
    # The notices every answer to this credential carries (`notices_for`), made once per
    # principal so the front only sets them: None for password sessions.
    notices: tuple[tuple[istr, str], ...] | None = None

    @property
    def is_admin(self) -> bool:
        return self.user_type == "admin"


def notices_for(expires_at: datetime | None,
                rotated_until: datetime | None) -> tuple[tuple[istr, str], ...] | None:
    """The response headers of a token's credential, as (name, value) pairs; None when
    there are none. Pairs rather than a multidict: setting one header costs a fifth of
    extending by a multidict."""
    headers = []
    if expires_at is not None:
        headers.append((TOKEN_EXPIRES, isoformat(expires_at)))
    if rotated_until is not None:
        headers.append((TOKEN_ROTATED, isoformat(rotated_until)))
    return tuple(headers) or None


def user_scopes(user_type: str, stored: list[str] | tuple[str, ...]) -> frozenset[str]:
    """What a user holds: admins hold every scope; a user holds what was given, never admin-only."""
    if user_type == "admin":
        return ALL_SCOPES
    return frozenset(stored) & (ALL_SCOPES - ADMIN_ONLY_SCOPES)


def token_scopes(user_type: str, user_stored: list[str], token_stored: list[str]) -> frozenset[str]:
    """A token's effective scopes: its own that its owner still holds."""
    return frozenset(token_stored) & user_scopes(user_type, user_stored)
