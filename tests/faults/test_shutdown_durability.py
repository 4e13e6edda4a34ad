"""SIGTERM drains in-flight requests; a 201 survives kill -9 and a PostgreSQL crash, and so do
rows answered 200 from a transaction that wrote several requests together."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import asyncpg
import pytest

SHUTDOWN_TIMEOUT = 10  # service.server.run_worker's shutdown_timeout


def send_partial_post(port: int, path: str, headers: dict[str, str], body: bytes,
                      first: int) -> socket.socket:
    """A POST whose body is only partly sent: the handler is left waiting for the rest."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
            f"Content-Length: {len(body)}", "Connection: close"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body[:first])
    return sock


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_sigterm_stops_accepting_and_finishes_in_flight_requests(private_pg, start_service):
    # A password login made slow on purpose (argon2 with a high time cost, about 1.3 s here; at
    # 30 it took 0.4 s, less than the time to see the port refused): it is still being
    # worked on when SIGTERM arrives, and done well before the shutdown timeout.
    service = start_service(private_pg.dsn, ARGON2_TIME_COST="100", ARGON2_MEMORY_COST="16384")
    username, password = service.admin
    form = urlencode({"grant_type": "password", "username": username, "password": password})
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(service.request, "POST", "/login", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        time.sleep(0.3)
        started = time.monotonic()
        service.signal(signal.SIGTERM)
        deadline = time.monotonic() + 3
        while not refused(service.port):  # new connections are refused promptly
            assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
            time.sleep(0.05)
        assert not in_flight.done()  # ... while the login is still being answered
        resp = in_flight.result(timeout=SHUTDOWN_TIMEOUT)
    assert resp.status == 200, resp.body
    assert resp.json()["access_token"]
    assert service.process.wait(timeout=SHUTDOWN_TIMEOUT + 5) == 0
    assert time.monotonic() - started < SHUTDOWN_TIMEOUT


def test_a_stalled_client_cannot_hold_shutdown_for_ever(private_pg, start_service):
    """aiohttp stops reading once shutting down: a body still on its way never arrives, and
    the request is cancelled after the shutdown timeout rather than holding the exit."""
    service = start_service(private_pg.dsn)
    bearer = service.bearer()
    sock = send_partial_post(service.port, "/tokens", bearer, b'{"label": "never-finished"}',
                             first=3)
    time.sleep(0.3)
    started = time.monotonic()
    service.signal(signal.SIGTERM)
    assert service.process.wait(timeout=SHUTDOWN_TIMEOUT + 5) == 0
    assert time.monotonic() - started < SHUTDOWN_TIMEOUT + 3
    sock.close()


@pytest.mark.parametrize("grant", ["api_key", "bearer"])
def test_a_created_token_survives_kill_9_and_an_immediate_postgres_stop(private_pg,
                                                                       start_service, grant):
    service = start_service(private_pg.dsn)
    bearer = service.bearer()
    resp = service.json_request("POST", "/tokens", {"label": f"durable-{grant}-"
                                                    f"{time.monotonic_ns()}"}, bearer)
    assert resp.status == 201
    token = resp.json()
    # No grace for anyone: the service dies at once, then PostgreSQL crashes.
    service.process.send_signal(signal.SIGKILL)
    service.process.wait(timeout=5)
    private_pg.stop()
    private_pg.start()

    again = start_service(private_pg.dsn)
    credential = ({"Authorization": token["api_key"]} if grant == "api_key" else bearer)
    resp = again.request("GET", "/users/me", headers=credential)
    assert resp.status == 200, resp.body  # the bearer too: the JWT key lives in the database
    resp = again.request("GET", f"/tokens/{token['id']}", headers=bearer)
    assert resp.status == 200
    assert resp.json()["label"] == token["label"]
    assert resp.json()["is_valid"] is True


async def _transactions_of(dsn: str) -> dict[str, str]:
    """The group test's stored rows: timestamp (as text) -> the transaction that wrote it."""
    conn = await asyncpg.connect(dsn)
    try:
        return {r["ts"]: r["xmin"] for r in await conn.fetch(
            "SELECT r.ts::text, r.xmin::text FROM pipe_rows r JOIN pipes p ON p.id = r.pipe_id "
            "WHERE p.connector_keys = 'faults:group'")}
    finally:
        await conn.close()


def test_rows_written_together_survive_kill_9_and_an_immediate_postgres_stop(private_pg,
                                                                             start_service):
    """Requests answered 200 from one grouped transaction are all there after the crash."""
    # A wait after an idle spell gathers each burst of requests into one transaction.
    service = start_service(private_pg.dsn, INGEST_MAX_DELAY_MS="200")
    bearer = {**service.bearer(), "Content-Type": "application/json"}
    path = "/pipes/faults:group/reading/-/data?create=true"
    answered: dict[str, int] = {}  # timestamp sent -> its value, for every 200
    grouped = False
    deadline = time.monotonic() + 30
    with ThreadPoolExecutor(16) as pool:
        while not grouped:
            assert time.monotonic() < deadline, "no two requests were ever written together"
            start = len(answered)
            rows = [{"timestamp": f"2024-03-01T00:{(start + i) // 60:02d}:{(start + i) % 60:02d}Z",
                     "v": start + i} for i in range(16)]
            results = list(pool.map(lambda row: service.json_request("POST", path, [row], bearer),
                                    rows))
            for row, resp in zip(rows, results, strict=True):
                assert resp.status == 200, resp.body
                assert resp.json() == {"inserted": 1, "updated": 0}
                answered[row["timestamp"]] = row["v"]
            written = asyncio.run(_transactions_of(private_pg.dsn))
            grouped = len(set(written.values())) < len(written)
    service.process.send_signal(signal.SIGKILL)
    service.process.wait(timeout=5)
    private_pg.stop()
    private_pg.start()

    again = start_service(private_pg.dsn)
    resp = again.request("GET", "/pipes/faults:group/reading/-/data?limit=100000",
                         headers=again.bearer())
    assert resp.status == 200, resp.body
    stored = {row["timestamp"]: row["v"] for row in resp.json()["items"]}
    assert stored == answered
