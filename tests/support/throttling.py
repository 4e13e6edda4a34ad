"""Throttling in tests: small budgets, client addresses through a trusted proxy header, and
where the counters live (PostgreSQL, or Redis at TEST_REDIS_URL, default
redis://127.0.0.1:6379/0, each test under its own key prefix)."""

from __future__ import annotations

import ipaddress
import os
import uuid
from dataclasses import replace

import redis.asyncio as aioredis

from service.config import AbuseSettings
from tests.support.api import Api
from tests.support.assertions import connect

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Small budgets so tests reach them quickly; the penalty outlives every test.
LIMITS = AbuseSettings(
    throttle_enabled=True,
    window_seconds=600,
    pair_failures=3,
    account_failures=6,
    source_failures=10,
    penalty_seconds=120,
    trusted_proxy_header="X-Forwarded-For",
    trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")),
)


def from_ip(address: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    """Headers that make the request come from `address` (through the trusted proxy)."""
    return {**(headers or {}), "X-Forwarded-For": address}


class Backend:
    """Where a test's throttling state lives, and a look at what is stored there."""

    def __init__(self, name: str, database_url: str) -> None:
        self.name = name
        self.database_url = database_url
        self.prefix = f"mrsm:test:{uuid.uuid4().hex}:"

    def settings(self, abuse: AbuseSettings) -> AbuseSettings:
        if self.name == "postgres":
            return abuse
        return replace(abuse, redis_url=REDIS_URL, redis_prefix=self.prefix)

    async def stored(self) -> list[tuple[str, str]]:
        """(rule, stored key) of every counter; the key as the store keeps it."""
        if self.name == "postgres":
            async with connect(self.database_url) as conn:
                rows = await conn.fetch("SELECT rule, key FROM auth_throttle")
            return [(r["rule"], bytes(r["key"]).hex()) for r in rows]
        out = []
        for name in await self.ttls():
            # <prefix>{<rule>:<hex>}:n
            rule, key = name[len(self.prefix):].split("}")[0].strip("{").split(":")
            if name.endswith(":n"):
                out.append((rule, key))
        return out

    async def ttls(self) -> dict[str, int]:
        """Redis key name -> milliseconds it has left (-1: none set), for this test's keys."""
        client = aioredis.from_url(REDIS_URL, decode_responses=True)
        try:
            names = [k async for k in client.scan_iter(match=f"{self.prefix}*", count=1000)]
            return {name: await client.pttl(name) for name in names}
        finally:
            await client.aclose()

    async def clean(self) -> None:
        if self.name == "redis":
            client = aioredis.from_url(REDIS_URL)
            try:
                keys = [k async for k in client.scan_iter(match=f"{self.prefix}*", count=1000)]
                if keys:
                    await client.delete(*keys)
            finally:
                await client.aclose()


async def password_login(api: Api, username: str, password: str, source: str):
    return await api.client.post("/login", headers=from_ip(source), data={
        "grant_type": "password", "username": username, "password": password})
