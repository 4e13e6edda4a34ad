"""Who is calling, and from where: what a handler reads off its request.

The front (service.front) verifies the credential and puts the caller's `Principal`
on the request under `keys.PRINCIPAL` before a protected handler runs. The client's
address is read off the request when asked for, since most requests never need it.
"""

from __future__ import annotations

from aiohttp import web

from service import keys
from service.abuse.client import address_text
from service.auth.principal import Principal


def principal_of(request: web.Request) -> Principal:
    """The verified caller of a protected route."""
    return request[keys.PRINCIPAL]


def source_of(request: web.Request) -> str | None:
    """The client's address as text (a trusted proxy's header when configured), for audit
    rows; None for a socket without an IP peer."""
    return address_text(request, request.app[keys.SETTINGS].abuse)
