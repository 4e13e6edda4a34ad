"""PostgreSQL out of connections (class 53): 503 with Retry-After, never 500; /readyz says
so; the outage is two log lines and a count in /metrics, not a line per request.

The service connects as a role of its own, so that the test can take its connections away
deterministically: `CONNECTION LIMIT 0` makes PostgreSQL refuse every new one with
"too many connections for role" (SQLSTATE 53300, the refusal max_connections gives).
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

ROLE = "mrsm_service"


def as_role(dsn: str, role: str) -> str:
    parts = urlsplit(dsn)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


async def admin_sql(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def service_dsn(private_pg) -> str:
    asyncio.run(admin_sql(private_pg.dsn, f"CREATE ROLE {ROLE} LOGIN",
                          f"ALTER DATABASE postgres OWNER TO {ROLE}",
                          f"ALTER SCHEMA public OWNER TO {ROLE}"))
    return as_role(private_pg.dsn, ROLE)


def limit_connections(dsn: str, limit: int) -> None:
    statements = [f"ALTER ROLE {ROLE} CONNECTION LIMIT {int(limit)}"]
    if limit == 0:
        # Existing connections are not affected by the limit: end them too.
        statements.append("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          f"WHERE usename = '{ROLE}'")
    asyncio.run(admin_sql(dsn, *statements))


def test_too_many_connections_is_503_and_logged_once(private_pg, service_dsn, start_service):
    service = start_service(service_dsn, DB_POOL_MIN="1", DB_POOL_MAX="8")
    bearer = service.bearer()
    resp = service.json_request("POST", "/tokens", {"label": "conn"}, bearer)
    assert resp.status == 201, resp.body
    key = {"Authorization": resp.json()["api_key"]}
    assert service.request("GET", "/tokens", headers=key).status == 200  # key now cached
    assert service.request("GET", "/metrics", headers=bearer).status == 200  # bearer too

    statuses: list[int] = []
    limit_connections(private_pg.dsn, 0)
    try:
        with ThreadPoolExecutor(16) as workers:
            answers = list(workers.map(lambda _: service.request("GET", "/tokens", headers=key),
                                       range(64)))
        for resp in answers:
            assert resp.status == 503, (resp.status, resp.body)
            assert resp.headers["Retry-After"] == "1"
            assert resp.json()["error"] == "service_unavailable"
        statuses += [r.status for r in answers]
        ready = service.request("GET", "/readyz")
        assert ready.status == 503, ready.body
        assert ready.headers["Retry-After"] == "1"
        statuses.append(ready.status)
    finally:
        limit_connections(private_pg.dsn, -1)

    deadline = time.monotonic() + 15
    while (ready := service.request("GET", "/readyz")).status != 200:
        statuses.append(ready.status)
        assert time.monotonic() < deadline, "the service did not recover"
        time.sleep(0.2)
    assert service.request("GET", "/tokens", headers=key).status == 200

    records = [json.loads(line) for line in service.log().splitlines() if line.startswith("{")]
    assert not [r for r in records if r["level"] in ("ERROR", "CRITICAL")]
    outage = [r["message"] for r in records if r["logger"] == "service.errors"]
    assert len(outage) == 2, outage
    assert "unavailable" in outage[0] and "TooManyConnections" in outage[0]
    assert "available again" in outage[1]
    assert f"{len(statuses)} requests were refused" in outage[1]

    text = service.request("GET", "/metrics", headers=bearer).body.decode()
    refused = [line for line in text.splitlines()
               if line.startswith("mrsm_db_unavailable_refused_requests_total")]
    assert refused == [f"mrsm_db_unavailable_refused_requests_total {float(len(statuses))}"]
    assert "mrsm_db_outages_total 1.0" in text
