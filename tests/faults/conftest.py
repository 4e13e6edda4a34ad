"""Fixtures for fault tests: a private PostgreSQL (module-wide), a database of a test's own
on the shared server; `start_service` is global."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.db import PrivatePostgres, scratch_database


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    with tempfile.TemporaryDirectory(prefix="mrsm-faults-") as tmp:
        pg = PrivatePostgres(Path(tmp) / "pg")
        try:
            yield pg
        finally:
            pg.close()


@pytest.fixture
def own_database(tcp_server_dsn):
    """A database of this test's own, so that every connection to it is the service's."""
    with scratch_database(tcp_server_dsn, "mrsm_own") as dsn:
        yield dsn
