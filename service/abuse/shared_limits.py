"""Per-token rate limits shared by every process and host: one token bucket per token in
Redis (REDIS_URL), spent by an atomic Lua script.

Only tokens with a `rate_limit` pay for it (one round trip per request). When Redis does
not answer, each process falls back to a bucket of its own holding
`rate_limit / RATE_LIMIT_INSTANCES`, warns once for the outage, and asks Redis again at
most once a second; the shared bucket is used again as soon as Redis answers.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from service.abuse.limits import TokenLimiter, rate_limited
from service.abuse.stores import redis_client
from service.config import AbuseSettings

log = logging.getLogger("service.abuse")

# A request waits at most this long for Redis before the local bucket decides.
TIMEOUT_SECONDS = 0.5
RETRY_SECONDS = 1.0

# KEYS: the bucket. ARGV: the rate (requests per minute, also the bucket's size).
# Returns 0 when a request was spent, else the milliseconds until one is available.
# Redis's own clock (TIME), so that the hosts' clocks need not agree; replicate_commands
# lets Redis before 5 write after reading it (a no-op since). The bucket's TTL is the time
# to refill completely: an expired bucket and a full one are the same thing.
TAKE = """
redis.replicate_commands()
local rate = tonumber(ARGV[1])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(held[1]), tonumber(held[2])
if tokens == nil or at == nil then
    tokens, at = rate, now
end
if now > at then
    tokens = math.min(rate, tokens + (now - at) * rate / 60000)
end
local wait = 0
if tokens < 1 then
    wait = math.max(1, math.ceil((1 - tokens) * 60000 / rate))
else
    tokens = tokens - 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 60000)
return wait
"""


class SharedTokenLimiter:
    """`check(token_id, rate)`: 429 past the token's rate, counted across all instances."""

    def __init__(self, settings: AbuseSettings) -> None:
        self._prefix = settings.redis_prefix
        self._instances = settings.rate_limit_instances
        self._client, self._errors = redis_client(settings, TIMEOUT_SECONDS)
        self._take = self._client.register_script(TAKE)
        self._local = TokenLimiter()
        self._retry_at = 0.0  # while Redis is away: when to ask it again (monotonic)
        self._down = False

    def _key(self, token_id: uuid.UUID) -> str:
        return f"{self._prefix}rate:{{{token_id}}}"

    async def check(self, token_id: uuid.UUID, rate: int) -> None:
        wait = await self._shared(token_id, rate)
        if wait is None:  # Redis did not answer: this process's share decides
            wait = self._local.take(token_id, max(1.0, rate / self._instances))
        if wait:
            raise rate_limited(wait)

    async def _shared(self, token_id: uuid.UUID, rate: int) -> float | None:
        """0 when spent, the seconds to wait when refused, None when Redis is away."""
        if self._down and time.monotonic() < self._retry_at:
            return None
        try:
            ms: Any = await self._take(keys=[self._key(token_id)], args=[rate])
        except self._errors as exc:
            self._retry_at = time.monotonic() + RETRY_SECONDS
            if not self._down:  # one warning per outage, not one per request
                self._down = True
                log.warning("redis unavailable for token rate limits (%s); each process "
                            "allows rate_limit / RATE_LIMIT_INSTANCES (%d) on its own",
                            type(exc).__name__, self._instances)
            return None
        if self._down:
            self._down = False
            log.warning("redis answers again for token rate limits; shared buckets again")
        return int(ms) / 1000

    async def close(self) -> None:
        await self._client.aclose()
