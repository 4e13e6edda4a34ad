"""The per-token bucket and the network test, with time given explicitly."""

from __future__ import annotations

import ipaddress
import uuid

from service.abuse.limits import TokenLimiter, network_allows


def test_bucket_allows_the_rate_then_refills_at_the_rate_per_minute():
    limiter, token = TokenLimiter(), uuid.uuid4()
    assert [limiter.take(token, 6, now=100.0) for _ in range(6)] == [None] * 6
    wait = limiter.take(token, 6, now=100.0)
    assert wait is not None and 9.9 < wait <= 10.0  # one request every 10 s at 6/min
    assert limiter.take(token, 6, now=105.0) is not None
    assert limiter.take(token, 6, now=110.0) is None  # refilled one
    assert limiter.take(token, 6, now=110.0) is not None
    # A long pause refills up to the rate, never beyond it.
    assert [limiter.take(token, 6, now=10_000.0) for _ in range(7)].count(None) == 6


def test_each_token_has_its_own_bucket():
    limiter = TokenLimiter()
    a, b = uuid.uuid4(), uuid.uuid4()
    assert limiter.take(a, 1, now=0.0) is None
    assert limiter.take(a, 1, now=0.0) is not None
    assert limiter.take(b, 1, now=0.0) is None


def test_network_allows_matches_versions_and_refuses_unknown_addresses():
    nets = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32"))
    assert network_allows(nets, ipaddress.ip_address("10.255.0.1"))
    assert network_allows(nets, ipaddress.ip_address("2001:db8::1"))
    assert not network_allows(nets, ipaddress.ip_address("11.0.0.1"))
    assert not network_allows(nets, ipaddress.ip_address("::ffff:10.0.0.1"))  # mapped: v6 here
    assert not network_allows(nets, None)
