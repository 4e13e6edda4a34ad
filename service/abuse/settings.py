"""The abuse limits' settings, read from the environment (see README, "Abuse limits and audit")."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from service.envparse import env_int

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    return env_int(env, name, default, minimum=minimum)


def parse_networks(raw: str, name: str = "TRUSTED_PROXIES") -> tuple[Network, ...]:
    """A comma-separated list of CIDRs (a bare address is a /32 or /128)."""
    networks = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=True))
        except ValueError:
            raise ValueError(f"{name}: {part!r} is not a network in CIDR notation") from None
    return tuple(networks)


@dataclass(frozen=True)
class AbuseSettings:
    """Budgets of failed authentications and where the client address comes from.

    A "pair" is (username or client ID, source address); an "account" is a
    username or client ID from every address; a "source" is one address.
    """

    throttle_enabled: bool = True
    window_seconds: int = 900
    pair_failures: int = 5
    account_failures: int = 50
    source_failures: int = 100
    penalty_seconds: int = 300
    # The header carrying the client's address, read only from these proxies' connections.
    trusted_proxy_header: str | None = None
    trusted_proxies: tuple[Network, ...] = ()
    # Where the counters live: Redis at this URL, or PostgreSQL when None.
    redis_url: str | None = None
    # Namespace of the Redis keys (tests give each run its own).
    redis_prefix: str = "mrsm:throttle:"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AbuseSettings:
        """Raises ValueError naming the variable when one is unusable."""
        d = cls()
        header = (env.get("TRUSTED_PROXY_HEADER") or "").strip() or None
        proxies = parse_networks(env.get("TRUSTED_PROXIES", ""))
        if header and not proxies:
            raise ValueError("TRUSTED_PROXY_HEADER needs TRUSTED_PROXIES (the proxies' CIDRs)")
        enabled = (env.get("THROTTLE_ENABLED", "1").strip().lower()
                   not in {"0", "false", "no", "off"})
        redis_url = (env.get("REDIS_URL") or "").strip() or None
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        return cls(
            throttle_enabled=enabled,
            window_seconds=_int(env, "THROTTLE_WINDOW_SECONDS", d.window_seconds),
            pair_failures=_int(env, "THROTTLE_PAIR_FAILURES", d.pair_failures),
            account_failures=_int(env, "THROTTLE_ACCOUNT_FAILURES", d.account_failures),
            source_failures=_int(env, "THROTTLE_SOURCE_FAILURES", d.source_failures),
            penalty_seconds=_int(env, "THROTTLE_PENALTY_SECONDS", d.penalty_seconds),
            trusted_proxy_header=header,
            trusted_proxies=proxies,
            redis_url=redis_url,
        )
