"""Fixtures for the Python API: this run's database as sql:main, `api_server` as api:main."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from service.sdk import clear_connectors
from tests.support.cli import PASSWORD, ROOT_PASSWORD, add_user
from tests.support.servers import CHEAP_ARGON2, Server


@pytest.fixture(autouse=True)
def sdk_env(monkeypatch, database_url: str, tmp_path: Path) -> Iterator[None]:
    """sql:main is this run's database; no MRSM_* from the shell; fresh connectors."""
    for name in [n for n in os.environ if n.startswith("MRSM_")]:
        monkeypatch.delenv(name)
    for name, value in {**CHEAP_ARGON2, "DATABASE_URL": database_url,
                        "MRSM_CONFIG": str(tmp_path / "absent.toml")}.items():
        monkeypatch.setenv(name, value)
    clear_connectors()
    yield
    clear_connectors()


@pytest.fixture
async def users(database_url: str) -> None:
    """root (admin), alice and bob (users)."""
    await add_user(database_url, "root", ROOT_PASSWORD, type_="admin")
    await add_user(database_url, "alice")
    await add_user(database_url, "bob")


@pytest.fixture
def login_as(monkeypatch, api_server: Server) -> Callable[..., None]:
    """Make api:main log in as this user (from the environment, as a script would)."""
    def login(username: str, password: str = PASSWORD) -> None:
        monkeypatch.setenv("MRSM_API_URL", api_server.base_url)
        monkeypatch.setenv("MRSM_API_USERNAME", username)
        monkeypatch.setenv("MRSM_API_PASSWORD", password)
        clear_connectors()
    return login
