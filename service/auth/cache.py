"""The per-process verified-credential cache.

Keyed by SHA-256 of the credential as sent (an API key, a JWT, or a client ID and
secret at /login), so a hit costs one SHA-256, one dict lookup and one
constant-time compare: no database, no HMAC, no argon2. Entries are bounded
(LRU), carry their own expiry (the token's expiration or the JWT's `exp`, checked
on every hit) and a short TTL as a safety net. They are dropped when the
revocation listener hears that their token or user changed.

Fail safe: while the listener does not hear (not connected, or its own echo not
back in time) the cache is disabled (no reads, no writes), so a process that cannot
hear revocations never serves a stale "valid". A generation counter, bumped by every
drop, stops a lookup that started before a revocation from caching its now-stale result.
"""

from __future__ import annotations

import hmac
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from service.auth.principal import Principal


@dataclass(slots=True)
class Entry:
    digest: bytes
    principal: Principal
    valid_until: float  # Unix seconds: the credential's own expiry
    stale_after: float  # Unix seconds: the safety-net TTL


class CredentialCache:
    def __init__(self, max_size: int, ttl_seconds: float) -> None:
        self.max_size = max_size
        self.ttl_seconds = ttl_seconds
        self.enabled = False
        self.generation = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[bytes, Entry] = OrderedDict()
        self._by_token: dict[uuid.UUID, set[bytes]] = {}
        self._by_user: dict[uuid.UUID, set[bytes]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: bytes, now: float) -> Principal | None:
        if not self.enabled:
            return None
        entry = self._entries.get(digest)
        if entry is None:
            self.misses += 1
            return None
        if now >= entry.valid_until or now >= entry.stale_after \
                or not hmac.compare_digest(entry.digest, digest):
            self._remove(digest)
            self.misses += 1
            return None
        self._entries.move_to_end(digest)
        self.hits += 1
        return entry.principal

    def put(self, digest: bytes, principal: Principal, valid_until: float,
            generation: int, now: float) -> None:
        """Remember a verified credential, unless a revocation happened since `generation`."""
        if not self.enabled or generation != self.generation or now >= valid_until:
            return
        if digest in self._entries:
            self._remove(digest)
        self._entries[digest] = Entry(digest, principal, valid_until, now + self.ttl_seconds)
        self._by_user.setdefault(principal.user_id, set()).add(digest)
        if principal.token_id is not None:
            self._by_token.setdefault(principal.token_id, set()).add(digest)
        while len(self._entries) > self.max_size:
            self._remove(next(iter(self._entries)))

    def drop_token(self, token_id: uuid.UUID) -> None:
        self.generation += 1
        for digest in self._by_token.pop(token_id, ()):
            self._remove(digest)

    def drop_user(self, user_id: uuid.UUID) -> None:
        self.generation += 1
        for digest in self._by_user.pop(user_id, ()):
            self._remove(digest)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._by_token.clear()
        self._by_user.clear()

    def _remove(self, digest: bytes) -> None:
        entry = self._entries.pop(digest, None)
        if entry is None:
            return
        principal = entry.principal
        for index, key in ((self._by_user, principal.user_id),
                           (self._by_token, principal.token_id)):
            if key is None:
                continue
            digests = index.get(key)
            if digests is not None:
                digests.discard(digest)
                if not digests:
                    del index[key]
