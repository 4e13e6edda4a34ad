"""A token's rate_limit across two real processes: shared through Redis (one bucket in
Redis), per process without it, and divided by RATE_LIMIT_INSTANCES while Redis is down."""

from __future__ import annotations

import time
import uuid

import pytest
import redis.asyncio as aioredis

from service.abuse.shared_limits import SharedTokenLimiter
from service.config import AbuseSettings
from service.errors import ApiError
from tests.support.fleet import new_token
from tests.support.servers import Server
from tests.support.sidecars import run_redis
from tests.support.throttling import REDIS_URL

LIMIT = 60  # requests a minute: a bucket of 60, refilled at one a second
OFFERED_PER_SECOND = 50
SECONDS = 3.0


def offer(servers: list[Server], key: str, seconds: float, per_second: float) -> dict:
    """Requests with `key` spread over `servers` in turn at `per_second` for `seconds`;
    the 200s each accepted, the 429s, and the time the offer lasted."""
    accepted = {s.port: 0 for s in servers}
    refused = 0
    started = time.monotonic()
    for n in range(int(seconds * per_second)):
        # Paced, not a synchronisation: the offered rate is part of what is measured.
        time.sleep(max(0.0, started + n / per_second - time.monotonic()))
        server = servers[n % len(servers)]
        resp = server.request("GET", "/users/me", headers={"Authorization": key})
        if resp.status == 200:
            accepted[server.port] += 1
        else:
            assert resp.status == 429, resp.body
            assert 1 <= int(resp.headers["Retry-After"]) <= 60
            refused += 1
    return {"accepted": accepted, "total": sum(accepted.values()), "refused": refused,
            "seconds": time.monotonic() - started}


async def test_the_redis_bucket_holds_the_rate_and_forgets_itself():
    prefix = f"mrsm:test:{uuid.uuid4().hex}:"
    limiter = SharedTokenLimiter(AbuseSettings(redis_url=REDIS_URL, redis_prefix=prefix))
    client = aioredis.from_url(REDIS_URL)
    token, other = uuid.uuid4(), uuid.uuid4()
    try:
        for _ in range(3):
            await limiter.check(token, 3)
        with pytest.raises(ApiError) as refused:
            await limiter.check(token, 3)
        assert refused.value.status == 429
        assert 1 <= int(refused.value.headers["Retry-After"]) <= 20  # one every 20 s at 3/min
        await limiter.check(other, 3)  # a bucket per token
        names = [k.decode() async for k in client.scan_iter(match=f"{prefix}*")]
        assert sorted(names) == sorted(f"{prefix}rate:{{{t}}}" for t in (token, other))
        for name in names:  # gone once it would be full again: nothing to clean up
            assert 0 < await client.pttl(name) <= 60_000
    finally:
        await limiter.close()
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "per-process"])
def test_two_instances_accept_the_limit_and_its_refill_once_with_redis_twice_without(
        start_service, database_url, shared):
    env = {"REDIS_URL": REDIS_URL, "REDIS_PREFIX": f"mrsm:test:{uuid.uuid4().hex}:"} \
        if shared else {"REDIS_URL": ""}
    a = start_service(database_url, **env)
    b = start_service(database_url, **env)
    token = new_token(a, a.bearer(), rate_limit=LIMIT)
    got = offer([a, b], token["api_key"], SECONDS, OFFERED_PER_SECOND)
    # One bucket: its size, plus what it refills while the offer lasts.
    allowed = LIMIT + LIMIT / 60 * got["seconds"]
    instances = 1 if shared else 2
    assert got["total"] <= allowed * instances * 1.1, got
    assert got["total"] >= allowed * instances * 0.9, got
    assert all(n > 0 for n in got["accepted"].values()), got  # both served the token


def test_while_redis_is_down_each_instance_allows_its_share_and_says_so_once(
        start_service, database_url):
    rate, instances = 20, 2
    with run_redis() as redis:
        env = {"REDIS_URL": redis.url, "RATE_LIMIT_INSTANCES": str(instances)}
        a = start_service(database_url, **env)
        b = start_service(database_url, **env)
        key = new_token(a, a.bearer(), rate_limit=rate)["api_key"]
        assert offer([a, b], key, 0.5, 10)["total"] == 5  # shared and far from the limit

        redis.stop()
        # 2 s at 20/s: past the 1 s retry, so each instance asked Redis again meanwhile.
        got = offer([a, b], key, 2.0, 20)
        share = rate / instances  # 10 each, refilled at 10 a minute
        for server in (a, b):
            assert share <= got["accepted"][server.port] <= share + 2, got
            assert server.log().count("redis unavailable for token rate limits") == 1
            assert "answers again for token rate limits" not in server.log()

        redis.start()  # empty: the shared bucket starts full
        deadline = time.monotonic() + 10
        while not all("answers again for token rate limits" in s.log() for s in (a, b)):
            assert time.monotonic() < deadline, "redis was not used again"
            offer([a, b], key, 0.2, 10)
        got = offer([a, b], key, 2.0, 30)
        assert got["total"] <= rate + 2, got  # one bucket again, not one per instance
