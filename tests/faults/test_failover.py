"""A multi-host DATABASE_URL (libpq syntax): with its first host down the pool, the
migrations and the revocation listener all find the writable one; while none accepts
writes the service answers 503, then recovers by itself; and through a real failover (a
primary crashed, its streaming standby promoted) two instances carry on, revocations too."""

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
from tests.support.sidecars import run_replicated_pair


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


def test_the_service_works_when_the_first_host_of_its_url_is_down(tcp_database_url,
                                                                   start_service):
    url = with_a_dead_first_host(tcp_database_url)
    service = start_service(url)
    other = start_service(tcp_database_url)  # a second instance on the plain URL
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
        own_database, tcp_server_dsn, start_service):
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
        tcp_server_dsn, f"ALTER DATABASE {name} SET default_transaction_read_only = on",
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
        asyncio.run(on_server(tcp_server_dsn,
                              f"ALTER DATABASE {name} RESET default_transaction_read_only"))
    # "Promoted": the pool and the listener find it again, no restart.
    deadline = time.monotonic() + 15
    while service.request("GET", "/readyz").status != 200:
        assert time.monotonic() < deadline, "the service did not recover"
        time.sleep(0.1)
    wait_for_metric(service, admin, "mrsm_auth_cache_enabled", 1)
    assert status(service, key) == 200
    assert "unhandled error" not in service.log()


async def replayed(primary: str, standby: str) -> None:
    """Until the standby has replayed everything the primary wrote so far."""
    conn = await asyncpg.connect(primary)
    try:
        lsn = await conn.fetchval("SELECT pg_current_wal_lsn()::text")
    finally:
        await conn.close()
    conn = await asyncpg.connect(standby)
    try:
        deadline = time.monotonic() + 10
        while not await conn.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                                      lsn):
            assert time.monotonic() < deadline, "the standby does not catch up"
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


def wait_ready(server, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while server.request("GET", "/readyz").status != 200:
        assert time.monotonic() < deadline, "the service did not find the new primary"
        time.sleep(0.1)


def test_the_primary_crashes_and_its_standby_is_promoted_under_two_instances(start_service):
    with run_replicated_pair() as pair:
        a, b = start_service(pair.url), start_service(pair.url)
        admin_a, admin_b = a.bearer(), b.bearer()
        token = new_token(a, admin_a)
        for server in (a, b):
            for _ in range(2):
                assert status(server, token["api_key"]) == 200
        asyncio.run(replayed(pair.dsn(0), pair.dsn(1)))

        pair.kill_primary()
        resp = b.request("GET", "/tokens", headers=admin_b)
        assert resp.status == 503, resp.body  # no primary: unavailable, never a 500
        pair.promote()
        for server in (a, b):
            wait_ready(server)
        # Both listeners are on the new primary and hear again.
        wait_for_metric(a, admin_a, "mrsm_auth_cache_enabled", 1, timeout=15)
        wait_for_metric(b, admin_b, "mrsm_auth_cache_enabled", 1, timeout=15)
        for _ in range(2):
            assert status(b, token["api_key"]) == 200  # replicated before the crash
        resp = a.request("POST", f"/tokens/{token['id']}/invalidate", headers=admin_a)
        assert resp.status == 200, resp.body
        assert seconds_until_refused(b, [token["api_key"]]) < 1.0
        for server in (a, b):
            assert "unhandled error" not in server.log()
