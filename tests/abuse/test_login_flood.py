"""A flood of bad password logins does not starve API-key traffic.

The argon2 pool is bounded (HASH_WORKERS running, HASH_QUEUE waiting, 503 past
that) and a password login gives its database connection back before hashing,
so API-key requests still get connections and answers. Latency is measured by
bench/login_flood.py, not asserted here.
"""

from __future__ import annotations

import asyncio

from service.app import create_app
from tests.support.api import Api

FLOOD = 64


async def test_64_concurrent_bad_logins_do_not_starve_api_key_requests(aiohttp_client,
                                                                      make_settings):
    # Real (if modest) argon2 cost so that the flood lasts while we measure.
    settings = make_settings(argon2_time_cost=1, argon2_memory_cost=16384,
                             hash_workers=2, hash_queue=64, db_pool_max=4)
    api = Api(await aiohttp_client(create_app(settings)), settings)
    await api.create_user("alice")
    token = await api.create_token(await api.bearer("alice"), label="device")
    key = {"Authorization": token["api_key"]}

    async def bad_login(i: int) -> int:
        resp = await api.client.post("/login", data={
            "grant_type": "password", "username": f"user{i % 8}", "password": "wrong"})
        await resp.read()
        return resp.status

    flood = asyncio.gather(*(bad_login(i) for i in range(FLOOD)))
    await asyncio.sleep(0.05)  # let the flood fill the hash pool first
    statuses = []
    for _ in range(20):
        # GET /tokens reads the database: it needs a pool connection every time.
        resp = await api.client.get("/tokens", headers=key)
        await resp.read()
        statuses.append(resp.status)
    still_flooding = not flood.done()
    login_statuses = await flood
    assert statuses == [200] * 20
    assert still_flooding, "the flood ended before the API-key requests: make it heavier"
    assert set(login_statuses) <= {400, 503}
    assert login_statuses.count(400) >= 1
