"""Last-used times and recent sources without a write per request: coalesced in memory,
flushed in one statement.

A use is remembered as (principal, client address) -> time, one dict write per request.
The flush folds them per token: the latest time becomes `last_used_at`, and the addresses
are merged with the token's stored `recent_sources`, keeping the newest `MAX_SOURCES`
distinct ones. The address is None when sources are not tracked (TRACK_SOURCES=0). It may
be the socket peer's text as the request gives it: the flush puts it in canonical form
(`canonical`, handed in by the app), so the request path does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from service.auth.principal import Principal

log = logging.getLogger("service.auth.lastused")

MAX_SOURCES = 5

# $3: per token, its new sources as JSON text ([] when none); merged with the stored ones,
# one entry per address (its latest time), newest first, at most $4.
FLUSH = """
UPDATE tokens AS t SET
    last_used_at = greatest(t.last_used_at, v.used_at),
    recent_sources = CASE WHEN v.sources = '[]' THEN t.recent_sources ELSE (
        SELECT coalesce(jsonb_agg(jsonb_build_object('address', m.address,
                                                     'last_seen_at', m.seen)
                                  ORDER BY m.seen DESC, m.address), '[]'::jsonb)
        FROM (SELECT e.address, max(e.seen) AS seen
              FROM (SELECT s->>'address' AS address, (s->>'last_seen_at')::timestamptz AS seen
                    FROM jsonb_array_elements(t.recent_sources || v.sources::jsonb) AS s) AS e
              GROUP BY e.address ORDER BY max(e.seen) DESC, e.address LIMIT $4) AS m
    ) END
FROM unnest($1::uuid[], $2::timestamptz[], $3::text[]) AS v(id, used_at, sources)
WHERE t.id = v.id
"""


class LastUsedTracker:
    """Remembers the latest use of each token from each address; writes them all at most
    every `interval` s."""

    def __init__(self, pool: asyncpg.Pool, interval: float, *,
                 canonical: Callable[[str], str | None] = lambda text: text) -> None:
        self._pool = pool
        self._interval = interval
        self._canonical = canonical
        # By (principal, address), the principal hashed by identity: a UUID's hash is a
        # Python call, and this runs on every request. A token's several principals (API
        # key, JWTs) meet at the flush.
        self._pending: dict[tuple[Principal, str | None], float] = {}
        self._task: asyncio.Task | None = None

    def touch(self, principal: Principal, now: float, source: str | None = None) -> None:
        """`principal`, a token's, was used at `now`, from `source` (None: not tracked)."""
        self._pending[principal, source] = now

    async def flush(self) -> int:
        if not self._pending:
            return 0
        pending, self._pending = self._pending, {}
        latest: dict[uuid.UUID, float] = {}
        sources: dict[uuid.UUID, dict[str, float]] = {}
        for (principal, source), ts in pending.items():
            token_id = principal.token_id
            if ts > latest.get(token_id, 0.0):
                latest[token_id] = ts
            if source is not None:
                source = self._canonical(source)
            if source is not None:
                seen = sources.setdefault(token_id, {})
                if ts > seen.get(source, 0.0):
                    seen[source] = ts
        ids = list(latest)
        times = [datetime.fromtimestamp(latest[i], UTC) for i in ids]
        news = [json.dumps(_newest(sources.get(i, {}))) for i in ids]
        try:
            async with self._pool.acquire(timeout=5) as conn:
                await conn.execute(FLUSH, ids, times, news, MAX_SOURCES)
        except Exception as exc:
            # Keep what we could not write (newer touches win) and try again next time.
            for key, ts in pending.items():
                self._pending.setdefault(key, ts)
            log.warning("could not flush last-used times (%s)", type(exc).__name__)
            return 0
        return len(ids)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="last-used-flush")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()


def _newest(seen: dict[str, float]) -> list[dict[str, str]]:
    """A token's addresses of one interval, the newest `MAX_SOURCES`, as stored."""
    top = sorted(seen.items(), key=lambda item: item[1], reverse=True)[:MAX_SOURCES]
    return [{"address": address, "last_seen_at": datetime.fromtimestamp(ts, UTC).isoformat()}
            for address, ts in top]
