"""An exhausted pool answers 503 after DB_TIMEOUT instead of holding the request for ever."""

from __future__ import annotations

import time

from service import keys
from service.app import create_app


async def test_requests_get_503_when_no_connection_frees_up(aiohttp_client, api, make_settings):
    # The credential cache stays on: the bearer is checked from memory, so the wait is the
    # handler's own plain `pool.acquire()`, bounded by the pool itself (service.db.BoundedPool).
    app = create_app(make_settings(db_pool_min=1, db_pool_max=1, db_timeout=0.5))
    client = await aiohttp_client(app)
    api.client = client
    headers = await api.admin_headers()
    assert (await client.get("/tokens", headers=headers)).status == 200  # now cached

    pool = app[keys.POOL]
    held = await pool.acquire()  # the pool's only connection, taken by someone slow
    try:
        started = time.monotonic()
        resp = await client.get("/tokens", headers=headers)
        elapsed = time.monotonic() - started
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "1"
        assert (await resp.json())["error"] == "service_unavailable"
        assert 0.4 < elapsed < 3  # DB_TIMEOUT, not for ever
        ready = await client.get("/readyz")
        assert ready.status == 503
    finally:
        await pool.release(held)
    assert (await client.get("/tokens", headers=headers)).status == 200
