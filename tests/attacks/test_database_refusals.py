"""PostgreSQL refusing for lack of resources (class 53) or by an operator (class 57) is a 503
with Retry-After, never a 500; an outage is logged once when it starts and once when it ends,
and its refusals are counted in /metrics."""

from __future__ import annotations

import logging

import asyncpg
import pytest

from service import errors, metrics

REFUSALS = [asyncpg.TooManyConnectionsError, asyncpg.OutOfMemoryError, asyncpg.DiskFullError,
            asyncpg.InsufficientResourcesError, asyncpg.ConfigurationLimitExceededError,
            asyncpg.AdminShutdownError, asyncpg.CannotConnectNowError,
            asyncpg.CrashShutdownError, asyncpg.OperatorInterventionError]


@pytest.fixture(autouse=True)
def no_outage():
    """No outage going on, and none ended a moment ago (that would make the next a relapse)."""
    errors.OUTAGE.over()
    errors.OUTAGE.ended = float("-inf")
    yield
    errors.OUTAGE.over()


@pytest.mark.parametrize("kind", REFUSALS)
def test_class_53_and_57_are_503_with_retry_after(kind):
    resp = errors.response_for(kind("refused"), "rid")
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "1"


def test_an_outage_logs_one_line_when_it_starts_and_one_when_it_ends(caplog):
    before = metrics.DB_UNAVAILABLE_REFUSED.value
    outages = metrics.DB_OUTAGES.value
    with caplog.at_level(logging.WARNING, logger="service.errors"):
        for _ in range(500):
            assert errors.response_for(asyncpg.TooManyConnectionsError("x"), "r").status == 503
            assert errors.response_for(ConnectionRefusedError(), "r").status == 503
        errors.OUTAGE.over()
        errors.OUTAGE.over()  # nothing left to end
    lines = [r.getMessage() for r in caplog.records if r.name == "service.errors"]
    assert len(lines) == 2, lines
    assert "TooManyConnectionsError" in lines[0]
    assert "1000 requests were refused" in lines[1]
    assert metrics.DB_UNAVAILABLE_REFUSED.value - before == 1000
    assert metrics.DB_OUTAGES.value - outages == 1


def test_a_flapping_database_is_summed_not_logged_per_relapse(caplog, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(errors.time, "monotonic", lambda: clock[0])
    with caplog.at_level(logging.WARNING, logger="service.errors"):
        for _ in range(300):  # a quarter of the requests fail, for 30 s
            errors.response_for(asyncpg.TooManyConnectionsError("x"), "r")
            for _ in range(3):
                errors.OUTAGE.over()
            clock[0] += 0.1
    lines = [r.getMessage() for r in caplog.records if r.name == "service.errors"]
    assert 2 <= len(lines) <= 5, lines  # a start, an end, then a summary every 10 s
    assert "unavailable" in lines[0] and "available again" in lines[1]
    assert all("intermittently" in line for line in lines[2:])


async def test_a_request_answered_after_an_outage_ends_it_and_metrics_show_it(
        client, admin_headers, caplog):
    errors.response_for(asyncpg.CannotConnectNowError("starting"), "r")
    assert errors.OUTAGE.active
    with caplog.at_level(logging.WARNING, logger="service.errors"):
        resp = await client.get("/metrics", headers=admin_headers)
    assert resp.status == 200
    assert not errors.OUTAGE.active
    assert any("available again" in r.getMessage() for r in caplog.records)
    text = await resp.text()
    assert "mrsm_db_unavailable_refused_requests_total" in text
    assert "mrsm_db_outages_total" in text
