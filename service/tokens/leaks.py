"""Leaked-key reports: anyone who finds an API key in public can have it invalidated.

The answer never says whether a key was real (the route always says how many it
received). A key whose shape or checksum fails is dropped before any database work;
each one that is a valid token's secret (its current one, or its previous one during an
overlap) invalidates that token with the reason "leaked", in the reporter's transaction,
and is audited as `token.leaked` with the reporter's address and the url they gave.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from service.audit import recorder as audit
from service.audit import repo as audit_repo
from service.auth import apikeys
from service.auth.credentials import matching_secret
from service.tokens import repo

LEAKED = "leaked"
# The throttle's rule for reports (counted per client address).
RULE = "leak_report"


async def report(conn: asyncpg.Connection, keys: list[str], *, url: str | None,
                 source: str | None) -> list[uuid.UUID]:
    """Invalidate every valid token among `keys`; returns their ids (for the caller to
    drop from its cache; other processes hear the change)."""
    found: dict[uuid.UUID, set[str]] = {}
    for key in keys:
        parts = apikeys.parse_api_key(key.strip())
        if parts is not None:  # forged or mistyped keys cost nothing more
            found.setdefault(parts[0], set()).add(parts[1])
    if not found:
        return []
    now = datetime.now(UTC)
    leaked = []
    for row in await repo.valid_secrets(conn, list(found)):
        if not any(matching_secret(row, secret, now) for secret in found[row["id"]]):
            continue
        await repo.invalidate(conn, row["id"], LEAKED)
        await audit.token_event(conn, audit_repo.TOKEN_LEAKED, None, row,
                                {"label": row["label"], "url": url}, source=source)
        leaked.append(row["id"])
    return leaked
