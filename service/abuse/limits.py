"""Per-token limits: requests per minute in this process's memory, and the networks a token
may be used from. (Shared across processes through Redis: service.abuse.shared_limits.)"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable

from service.abuse.client import Address
from service.config import Network
from service.errors import ApiError

# Past this many buckets, full ones (equivalent to no bucket) are dropped.
_PRUNE_AT = 10_000


def network_allows(networks: Iterable[Network], address: Address | None) -> bool:
    """Whether `address` is inside one of `networks` (an unknown address never is)."""
    if address is None:
        return False
    return any(address.version == net.version and address in net for net in networks)


def rate_limited(wait: float) -> ApiError:
    seconds = max(1, math.ceil(wait))
    return ApiError(429, "too_many_requests",
                    f"This token's rate limit is reached; try again in {seconds} seconds.",
                    headers={"Retry-After": str(seconds)})


class TokenLimiter:
    """A token bucket per token: `rate` requests, refilled at `rate` per minute.

    Kept in each process's memory: with N processes a token may get up to N times
    its rate, unless REDIS_URL is set (docs/scaling.md). Costs nothing for tokens without
    a limit. `rate` may be fractional (a share of a limit).
    """

    def __init__(self) -> None:
        self._buckets: dict[uuid.UUID, tuple[float, float]] = {}  # id -> (tokens, at)

    def take(self, token_id: uuid.UUID, rate: float, now: float | None = None) -> float | None:
        """Spend one request; None when allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        tokens, at = self._buckets.get(token_id, (float(rate), now))
        tokens = min(float(rate), tokens + (now - at) * rate / 60.0)
        if tokens < 1.0:
            self._buckets[token_id] = (tokens, now)
            return (1.0 - tokens) * 60.0 / rate
        self._buckets[token_id] = (tokens - 1.0, now)
        if len(self._buckets) > _PRUNE_AT:
            self._prune(now)
        return None

    def _prune(self, now: float) -> None:
        # A bucket that would be full again carries no information.
        full = [k for k, (tokens, at) in self._buckets.items() if now - at >= 60.0]
        for key in full:
            del self._buckets[key]

    def check(self, token_id: uuid.UUID, rate: int) -> None:
        wait = self.take(token_id, rate)
        if wait is not None:
            raise rate_limited(wait)
