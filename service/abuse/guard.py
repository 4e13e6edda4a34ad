"""The abuse limits as one per-process object: what the front and /login ask of them.

Every method takes the facts it needs (the source address as throttling counts it,
the client ID or username, the token's own limits): nothing here reads a request.
A successful request costs a dict check, unless its token has its own limits (then
one bucket update, in Redis when REDIS_URL is set, and one network test).
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence

import asyncpg

from service.abuse.client import Address
from service.abuse.limits import TokenLimiter, network_allows
from service.abuse.shared_limits import SharedTokenLimiter
from service.abuse.stores import ThrottleStoreUnavailable
from service.abuse.throttle import OnBlocks, Subject, Throttle, store_unavailable
from service.config import AbuseSettings, Network
from service.errors import DATABASE_UNAVAILABLE, ApiError

log = logging.getLogger("service.abuse")


def too_many_reports(wait: float) -> ApiError:
    seconds = max(1, math.ceil(wait))
    return ApiError(429, "too_many_requests",
                    f"Too many reports from this address; try again in {seconds} seconds.",
                    headers={"Retry-After": str(seconds)})


class AbuseGuard:
    """Failed-authentication throttling and the per-token rate limits of one process."""

    def __init__(self, settings: AbuseSettings, pool: asyncpg.Pool, *,
                 on_blocks: OnBlocks) -> None:
        self.settings = settings
        self.throttle = Throttle(settings, pool, on_blocks=on_blocks)
        self.limiter = TokenLimiter()
        # With Redis, a token's rate limit holds across every process and host.
        self.shared_limiter = SharedTokenLimiter(settings) if settings.redis_url else None
        self._uncounted = False  # failures go uncounted: the database is away
        # What the front tests on every request: a dict, empty unless a block is known.
        self.blocks = self.throttle.blocks.until

    async def close(self) -> None:
        await self.throttle.close()
        if self.shared_limiter is not None:
            await self.shared_limiter.close()

    # --- credentials sent with a request ----------------------------------------------

    def check_blocked(self, source: str, client_id: uuid.UUID | None) -> None:
        """429 when this source (or this API key from this source) is blocked; no I/O."""
        subject = Subject.client(client_id) if client_id is not None else None
        self.throttle.check_local(source, subject)

    async def admit(self, token_id: uuid.UUID | None, rate_limit: int | None,
                    allowed_cidrs: Sequence[Network] | None, address: Address | None) -> bool:
        """A verified token's own limits: False when used outside its networks (a 401);
        429 past its rate limit (shared through Redis when REDIS_URL is set)."""
        if allowed_cidrs is not None and not network_allows(allowed_cidrs, address):
            return False
        if rate_limit is not None and token_id is not None:
            if self.shared_limiter is not None:
                await self.shared_limiter.check(token_id, rate_limit)
            else:
                self.limiter.check(token_id, rate_limit)
        return True

    async def refused(self, source: str, client_id: uuid.UUID | None) -> None:
        """Count a refused credential against its source, and its client ID if it names
        one. The answer stays 401 whatever happens here: a garbage key needs no store to
        be refused, and only the counting is lost while the store is away."""
        subject = Subject.client(client_id) if client_id is not None else None
        try:
            await self.throttle.failed(source, subject)
        except ThrottleStoreUnavailable:
            return  # the store warned once for this outage
        except DATABASE_UNAVAILABLE as exc:
            # One line per outage, not one per refused credential: a scanner's garbage keys
            # during an outage would flood the log just when someone reads it.
            if not self._uncounted:
                self._uncounted = True
                log.warning("failed authentications not counted while the database does "
                            "not answer (%s)", type(exc).__name__)
            return
        if self._uncounted:
            self._uncounted = False
            log.warning("failed authentications counted again")

    # --- public reports ---------------------------------------------------------------

    async def check_report(self, rule: str, source: str, per_hour: int) -> None:
        """429 past `per_hour` requests of `source` to a public reporting route (0: no
        limit); 503 when the store does not answer (fail closed)."""
        if per_hour == 0:
            return
        try:
            wait = await self.throttle.counted(rule, source, per_hour, 3600)
        except ThrottleStoreUnavailable:
            raise store_unavailable() from None
        if wait is not None:
            raise too_many_reports(wait)

    # --- /login ---------------------------------------------------------------------

    async def check_password_login(self, conn: asyncpg.Connection, source: str,
                                   username: str) -> None:
        """429 when this address may not try this username now (asks the store)."""
        subject = Subject.user(username)
        self.throttle.check_local(source, subject)
        try:
            await self.throttle.check_shared(conn, source, subject)
        except ThrottleStoreUnavailable:
            raise store_unavailable() from None

    async def login_failed(self, source: str, subject: Subject | None, *,
                           target_user_id: uuid.UUID | None = None,
                           target_username: str | None = None) -> None:
        """Count a failed login; 503 when the store does not answer (fail closed)."""
        try:
            await self.throttle.failed(source, subject, target_user_id=target_user_id,
                                       target_username=target_username)
        except ThrottleStoreUnavailable:
            raise store_unavailable() from None
