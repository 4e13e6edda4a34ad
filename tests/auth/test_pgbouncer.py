"""Instances behind PgBouncer in transaction mode (Debian's, started by the test): the pool
goes through it, the revocation listener and the migrations connect directly
(LISTEN_DATABASE_URL), and a listener wrongly put behind it turns the cache off."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.fleet import metric, new_token, seconds_until_refused, status, wait_for_metric
from tests.support.sidecars import run_pgbouncer

ENABLED = "mrsm_auth_cache_enabled"
HITS = 'mrsm_auth_cache_total{result="hit"}'


@pytest.fixture
def pgbouncer(tcp_database_url):
    with run_pgbouncer(tcp_database_url) as bouncer:
        yield bouncer


def behind(pgbouncer, tcp_database_url: str) -> dict[str, str]:
    # PgBouncer 1.18 (Debian 12) keeps no prepared statements across transactions: a
    # LISTEN_DATABASE_URL of its own turns asyncpg's statement cache off by default.
    return {"DATABASE_URL": pgbouncer.url(tcp_database_url),
            "LISTEN_DATABASE_URL": tcp_database_url}


def test_a_key_revoked_through_one_instance_is_refused_by_the_other_within_a_second(
        pgbouncer, tcp_database_url, start_service):
    env = behind(pgbouncer, tcp_database_url)
    a = start_service(env.pop("DATABASE_URL"), **env)
    b = start_service(pgbouncer.url(tcp_database_url), **env)
    admin_a, admin_b = a.bearer(), b.bearer()
    token = new_token(a, admin_a)
    for server in (a, b):
        for _ in range(2):  # the second answer comes from the cache
            assert status(server, token["api_key"]) == 200
    assert metric(b, admin_b, ENABLED) == 1
    assert metric(b, admin_b, HITS) >= 1
    resp = a.request("POST", f"/tokens/{token['id']}/invalidate", headers=admin_a)
    assert resp.status == 200, resp.body
    elapsed = seconds_until_refused(b, [token["api_key"]])
    assert elapsed < 1.0, f"B accepted the revoked key for {elapsed:.3f} s"
    # Concurrent queries share PgBouncer's few server connections without a prepared
    # statement going astray (a 500 with asyncpg's default statement cache).
    with ThreadPoolExecutor(8) as pool:
        statuses = set(pool.map(lambda _: a.request("GET", "/tokens", headers=admin_a).status,
                                range(160)))
    assert statuses == {200}
    # The pools went through PgBouncer: it logged their logins to the test's database.
    assert f"login attempt: db={tcp_database_url.rsplit('/', 1)[1]}" in pgbouncer.log()


def test_a_listener_behind_pgbouncer_turns_the_cache_off_instead_of_serving_a_revoked_key(
        pgbouncer, tcp_database_url, start_service):
    a = start_service(tcp_database_url)
    wrong = pgbouncer.url(tcp_database_url)
    b = start_service(wrong, DB_STATEMENT_CACHE_SIZE="0", LISTEN_DATABASE_URL=wrong)
    admin_a, admin_b = a.bearer(), b.bearer()
    # Its own echo never comes back: the cache is off from the start and stays off.
    wait_for_metric(b, admin_b, ENABLED, 0)
    assert "did not hear its own notification" in b.log()
    token = new_token(a, admin_a)
    for _ in range(3):
        assert status(b, token["api_key"]) == 200
    assert metric(b, admin_b, HITS) == 0  # every answer came from the database
    resp = a.request("POST", f"/tokens/{token['id']}/invalidate", headers=admin_a)
    assert resp.status == 200, resp.body
    assert status(b, token["api_key"]) == 401  # at once: nothing cached to go stale
    assert metric(b, admin_b, ENABLED) == 0
    assert b.log().count("did not hear its own notification") == 1  # once, not per ping


def wait_for_log(server, text: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while text not in server.log():
        assert time.monotonic() < deadline, f"{text!r} not logged in {timeout} s"
        time.sleep(0.05)


def test_the_cache_goes_off_while_the_echo_is_lost_and_on_again_once_it_is_heard(
        pgbouncer, tcp_database_url, start_service):
    env = behind(pgbouncer, tcp_database_url)
    a = start_service(env.pop("DATABASE_URL"), **env)
    admin = a.bearer()
    token = new_token(a, admin)
    assert metric(a, admin, ENABLED) == 1
    # PAUSE holds every query of the pool, the echo's included; the listener's own
    # direct connection stays up and its SELECT 1 passes.
    pgbouncer.console("PAUSE")
    try:
        wait_for_log(a, "credential cache off")
    finally:
        pgbouncer.console("RESUME")
    wait_for_log(a, "hears its own notifications again")
    assert metric(a, admin, ENABLED) == 1
    hits = metric(a, admin, HITS)
    for _ in range(2):
        assert status(a, token["api_key"]) == 200
    assert metric(a, admin, HITS) > hits  # cached again
    resp = a.request("POST", f"/tokens/{token['id']}/invalidate", headers=admin)
    assert resp.status == 200, resp.body
    assert seconds_until_refused(a, [token["api_key"]]) < 1.0
