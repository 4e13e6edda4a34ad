"""A multi-host DATABASE_URL (libpq syntax) whose first host is down: the pool, the
migrations and the revocation listener all find the writable one, and while none accepts
writes the service answers 503, then recovers by itself."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from tests.support.db import quote_ident
from tests.support.fleet import (
    metric,
    new_token,
    seconds_until_refused,
    status,
    wait_for_metric,
)
from tests.support.servers import free_port


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def two_hosts(dsn: str, first: str) -> str:
    """`dsn` with `first` (host:port) before its own host, wanting the read-write one."""
    parts = urlsplit(dsn)
    user, _, host = parts.netloc.rpartition("@")
    hosts = f"{first},{host}"
    return urlunsplit(parts._replace(netloc=f"{user}@{hosts}" if user else hosts,
                                     query="target_session_attrs=read-write"))


def with_a_dead_first_host(dsn: str) -> str:
    # Nothing listens on a port just freed: connections to it are refused.
    return two_hosts(dsn, f"127.0.0.1:{free_port()}")


def test_the_service_works_when_the_first_host_of_its_url_is_down(database_url,
                                                                   start_service):
    url = with_a_dead_first_host(database_url)
    service = start_service(url)
    other = start_service(database_url)  # a second instance on the plain URL
    admin = service.bearer()
    assert service.request("GET", "/readyz").status == 200
    token = new_token(service, admin)
    for _ in range(2):
        assert status(service, token["api_key"]) == 200
    assert metric(service, admin, "mrsm_auth_cache_enabled") == 1  # the listener hears
    resp = other.request("POST", f"/tokens/{token['id']}/invalidate", headers=other.bearer())
    assert resp.status == 200, resp.body
    assert seconds_until_refused(service, [token["api_key"]]) < 1.0


async def on_server(server_dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(server_dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def test_while_no_host_accepts_writes_the_service_answers_503_then_recovers(
        own_database, server_dsn, start_service):
    """The moment of a failover when both hosts answer but neither is the primary yet: a
    database whose sessions start read-only looks like a standby to target_session_attrs
    (here both "hosts" are the one server, under two names)."""
    name = quote_ident(urlsplit(own_database).path.lstrip("/"))
    parts = urlsplit(own_database)
    service = start_service(two_hosts(own_database, f"localhost:{parts.port or 5432}"))
    admin = service.bearer()
    key = new_token(service, admin)["api_key"]
    assert status(service, key) == 200
    asyncio.run(on_server(
        server_dsn, f"ALTER DATABASE {name} SET default_transaction_read_only = on",
        # Every session of the service ends, as they do when their primary goes.
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = {quote_literal(urlsplit(own_database).path.lstrip('/'))}"))
    try:
        deadline = time.monotonic() + 10
        while (resp := service.request("GET", "/tokens", headers=admin)).status != 503:
            assert resp.status == 200, resp.body  # never a 500
            assert time.monotonic() < deadline, "still answered from a read-only host"
            time.sleep(0.05)
        assert resp.json()["error"] == "service_unavailable"
        assert service.request("GET", "/readyz").status == 503
    finally:
        asyncio.run(on_server(server_dsn,
                              f"ALTER DATABASE {name} RESET default_transaction_read_only"))
    # "Promoted": the pool and the listener find it again, no restart.
    deadline = time.monotonic() + 15
    while service.request("GET", "/readyz").status != 200:
        assert time.monotonic() < deadline, "the service did not recover"
        time.sleep(0.1)
    wait_for_metric(service, admin, "mrsm_auth_cache_enabled", 1)
    assert status(service, key) == 200
    assert "unhandled error" not in service.log()
