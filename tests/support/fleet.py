"""Several service processes on one database, as hosts would be: their metrics, a token
made through one, and how long another takes to refuse it once revoked."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from tests.support.servers import Server


def metric(server: Server, headers: dict[str, str], sample: str) -> float:
    """The value of one sample of GET /metrics, e.g. 'mrsm_db_pool_connections{state="idle"}'."""
    resp = server.request("GET", "/metrics", headers=headers)
    assert resp.status == 200, resp.body
    found = re.search(rf"^{re.escape(sample)} (\S+)$", resp.body.decode(), flags=re.M)
    assert found, f"{sample} not in /metrics"
    return float(found.group(1))


def wait_for_metric(server: Server, headers: dict[str, str], sample: str, value: float,
                    timeout: float = 10) -> float:
    """Seconds until `sample` reads `value`; fails after `timeout` seconds."""
    started = time.monotonic()
    while metric(server, headers, sample) != value:
        assert time.monotonic() - started < timeout, f"{sample} is not {value} after {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - started


def new_token(server: Server, headers: dict[str, str], **fields) -> dict:
    """A token registered through `server` (its body, with `api_key` and `secret`)."""
    resp = server.json_request("POST", "/tokens", {"label": "fleet", **fields}, headers)
    assert resp.status == 201, resp.body
    return resp.json()


def status(server: Server, credential: str, path: str = "/users/me") -> int:
    return server.request("GET", path, headers={"Authorization": credential}).status


def seconds_until_refused(server: Server, credentials: Sequence[str],
                          limit: float = 3.0) -> float:
    """Seconds until `server` answers 401 to every credential (polled); fails past `limit`."""
    started = time.monotonic()
    while True:
        statuses = [status(server, c) for c in credentials]
        if all(s == 401 for s in statuses):
            return time.monotonic() - started
        assert all(s in (200, 401) for s in statuses), statuses
        assert time.monotonic() - started < limit, f"still accepted after {limit} s"
        time.sleep(0.01)
