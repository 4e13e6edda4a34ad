"""The client's address: the socket's peer, or a trusted proxy's header when configured."""

from __future__ import annotations

import functools
import ipaddress

from aiohttp import web

from service.config import AbuseSettings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# What throttling counts a request without an IP peer under.
UNKNOWN_SOURCE = "unknown"


@functools.lru_cache(maxsize=4096)  # a peer's address is parsed once, not on every request
def _parse(text: str | None) -> Address | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket is the IPv4 client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, settings: AbuseSettings) -> bool:
    return any(address in network for network in settings.trusted_proxies)


def client_address(request: web.Request, settings: AbuseSettings) -> Address | None:
    """Where the request comes from; None only for a socket without an IP peer.

    The header is read only when TRUSTED_PROXY_HEADER is set and the connection
    comes from one of TRUSTED_PROXIES; otherwise anyone could claim any address.
    X-Forwarded-For is read right to left, skipping our own proxies: the first
    address that is not one of them is the client (the left part is the client's
    own say-so and could be forged).
    """
    peer = _parse(request.remote)
    header = settings.trusted_proxy_header
    if header is None or peer is None or not _trusted(peer, settings):
        return peer
    hops = [part for part in request.headers.getall(header, []) for part in part.split(",")]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            return peer  # a malformed hop: trust nothing past it
        if not _trusted(address, settings):
            return address
    return _parse(hops[0]) if hops else peer


@functools.lru_cache(maxsize=4096)
def canonical_text(text: str | None) -> str | None:
    """An address as text the way `client_address` gives it (an IPv4 client seen through
    an IPv6 socket is the IPv4 client), or None when `text` is not an address."""
    address = _parse(text)
    return str(address) if address is not None else None


def address_text(request: web.Request, settings: AbuseSettings) -> str | None:
    """`client_address` as text (None for a socket without an IP peer). Without a trusted
    proxy header this is one cached lookup of the peer."""
    if settings.trusted_proxy_header is None:
        return canonical_text(request.remote)
    address = client_address(request, settings)
    return str(address) if address is not None else None


def counted_source(request: web.Request, settings: AbuseSettings) -> str:
    """The client's address as throttling counts it."""
    return source_text(client_address(request, settings))


def source_text(address: Address | None) -> str:
    """The address as throttling counts it."""
    return str(address) if address is not None else UNKNOWN_SOURCE
