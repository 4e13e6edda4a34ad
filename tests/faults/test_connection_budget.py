"""What one instance holds of PostgreSQL's max_connections: DB_POOL_MIN + 1 idle, at most
DB_POOL_MAX + 1 under load (the pool and the revocation listener), and /metrics shows the
pool's size, the connections in use and the requests waiting for one."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import asyncpg

from tests.support.fleet import metric, new_token

POOL_MIN, POOL_MAX, CALLERS = 2, 3, 7


async def connections_to(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
    finally:
        await conn.close()


def test_connections_idle_and_under_load_and_the_pool_in_metrics(own_database, start_service):
    service = start_service(own_database, DB_POOL_MIN=str(POOL_MIN), DB_POOL_MAX=str(POOL_MAX),
                            DB_TIMEOUT="10")
    # Idle, before any request: the pool's minimum and the listener.
    assert asyncio.run(connections_to(own_database)) == POOL_MIN + 1
    admin = service.bearer()
    key = {"Authorization": new_token(service, admin)["api_key"]}
    assert service.request("GET", "/users/me", headers=key).status == 200  # now cached
    # Background writers (the login audit, last-used times) may have grown the pool a bit.
    size = metric(service, admin, "mrsm_db_pool_size")
    assert POOL_MIN <= size <= POOL_MAX
    assert asyncio.run(connections_to(own_database)) == size + 1
    assert metric(service, admin, "mrsm_db_pool_waiting") == 0

    async def hold_the_tokens_table_while(check):
        # Every GET /tokens now keeps its connection until the lock goes: the pool fills
        # up and the callers beyond it wait.
        conn = await asyncpg.connect(own_database)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE")
                await asyncio.to_thread(check)
        finally:
            await conn.close()

    def pool_state() -> tuple[float, float, float]:
        return tuple(metric(service, admin, sample) for sample in (
            "mrsm_db_pool_size", 'mrsm_db_pool_connections{state="in_use"}',
            "mrsm_db_pool_waiting"))

    callers = ThreadPoolExecutor(CALLERS)

    def under_load():
        answers = [callers.submit(service.request, "GET", "/tokens", headers=key)
                   for _ in range(CALLERS)]
        deadline = 50  # 5 s in polls of 0.1 s: the requests must have arrived by then
        while pool_state() != (POOL_MAX, POOL_MAX, CALLERS - POOL_MAX):
            deadline -= 1
            assert deadline, f"(size, in use, waiting) is {pool_state()}"
            time.sleep(0.1)
        # The service's connections, plus the one holding the lock.
        assert asyncio.run(connections_to(own_database)) == POOL_MAX + 1 + 1
        return answers

    answers: list = []
    try:
        asyncio.run(hold_the_tokens_table_while(lambda: answers.extend(under_load())))
        # The lock is gone: every caller is answered, none timed out waiting.
        assert {f.result().status for f in answers} == {200}
    finally:
        callers.shutdown(cancel_futures=True)
    assert metric(service, admin, "mrsm_db_pool_waiting") == 0
