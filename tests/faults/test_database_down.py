"""The database goes away and comes back: 503s, bounded in time, then recovery without restart."""

from __future__ import annotations

import json
import time

import pytest

# DB_TIMEOUT is 2 s in these tests: no answer may take much longer than that.
BOUND = 6.0


def assert_unavailable(resp) -> None:
    assert resp.status == 503, (resp.status, resp.body)
    assert resp.seconds < BOUND
    assert resp.json()["error"] == "service_unavailable"


@pytest.fixture
def service_with_token(private_pg, start_service):
    service = start_service(private_pg.dsn)
    bearer = service.bearer()
    resp = service.json_request("POST", "/tokens", {"label": f"down-{time.monotonic_ns()}"},
                                bearer)
    assert resp.status == 201, resp.body
    token = resp.json()
    return service, bearer, token


def test_database_down_answers_503_never_200_and_recovers(private_pg, service_with_token):
    service, bearer, token = service_with_token
    key = {"Authorization": token["api_key"]}
    assert service.request("GET", "/users/me", headers=key).status == 200  # cached from here
    pid = service.process.pid

    private_pg.stop()
    try:
        ready = service.request("GET", "/readyz")
        assert (ready.status, ready.json()) == (503, {"status": "unavailable"})
        assert ready.seconds < BOUND
        # A credential verified a moment ago, a bearer, and a key never seen: all 503.
        assert_unavailable(service.request("GET", "/users/me", headers=key))
        assert_unavailable(service.request("GET", "/tokens", headers=bearer))
        assert_unavailable(service.json_request("POST", "/tokens", {"label": "while-down"},
                                                bearer))
        other = token["api_key"][:-8] + "AAAAAAAA"
        resp = service.request("GET", "/users/me", headers={"Authorization": other})
        assert resp.status in (401, 503), resp.body  # a malformed key needs no database
        resp = service.request(
            "POST", "/login", body="grant_type=password&username=x&password=y",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert_unavailable(resp)
        assert service.request("GET", "/healthz").status == 200  # alive, just not ready
    finally:
        private_pg.start()

    deadline = time.monotonic() + 15
    while service.request("GET", "/readyz").status != 200:
        assert time.monotonic() < deadline, "the service did not recover"
        time.sleep(0.2)
    assert service.request("GET", "/users/me", headers=key).status == 200
    resp = service.request("GET", "/tokens", headers=bearer)
    assert resp.status == 200
    assert token["id"] in {t["id"] for t in resp.json()["items"]}
    assert service.process.poll() is None and service.process.pid == pid  # no restart
    # The log is JSON lines (the one plain line is the listening banner on stdout); the
    # outage shows as 503s and warnings, never as an error or an unhandled exception.
    records = [json.loads(line) for line in service.log().splitlines() if line.startswith("{")]
    assert not [r for r in records if r["level"] in ("ERROR", "CRITICAL")]
    statuses = [r["status"] for r in records if r["logger"] == "service.access"]
    assert 503 in statuses and 200 in statuses


def test_a_new_api_key_while_the_database_is_down_is_503_not_401(private_pg,
                                                                   service_with_token):
    """The key is well formed but unknown to the cache: refusing it would be a lie."""
    service, bearer, _ = service_with_token
    resp = service.json_request("POST", "/tokens", {"label": f"fresh-{time.monotonic_ns()}"},
                                bearer)
    assert resp.status == 201
    fresh = {"Authorization": resp.json()["api_key"]}
    private_pg.stop()
    try:
        assert_unavailable(service.request("GET", "/users/me", headers=fresh))
    finally:
        private_pg.start()


def test_refused_keys_during_an_outage_log_two_lines_not_one_each(private_pg, start_service,
                                                                  tmp_path):
    service = start_service(private_pg.dsn)
    forged = "mrsm-key:" + "QUFB" * 20  # refused without a database: no client ID in it
    private_pg.stop()
    try:
        for _ in range(30):
            resp = service.request("GET", "/users/me", headers={"Authorization": forged})
            assert resp.status == 401, resp.body
            assert resp.seconds < BOUND
    finally:
        private_pg.start()
    deadline = time.monotonic() + 15
    while service.request("GET", "/readyz").status != 200:
        assert time.monotonic() < deadline, "the service did not recover"
    resp = service.request("GET", "/users/me", headers={"Authorization": forged})
    assert resp.status == 401  # counted again
    time.sleep(0.5)  # log lines are written in batches
    lines = [json.loads(line) for line in service.log().splitlines() if line.startswith("{")]
    warnings = [line["message"] for line in lines
                if line["level"] == "WARNING" and line["logger"] == "service.abuse"]
    # One line when counting stops (naming the error, which depends on the socket), one
    # when it works again: not one per refused key.
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("failed authentications not counted while the database "
                                  "does not answer ("), warnings
    assert warnings[1] == "failed authentications counted again"
