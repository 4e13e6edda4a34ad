"""Fixtures for fault tests: a private PostgreSQL (module-wide); `start_service` is global."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.db import PrivatePostgres


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    with tempfile.TemporaryDirectory(prefix="mrsm-faults-") as tmp:
        pg = PrivatePostgres(Path(tmp) / "pg")
        try:
            yield pg
        finally:
            pg.close()
