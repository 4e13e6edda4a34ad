"""Fixtures for the `mrsm` console script: its environment and the people it acts for."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from service.cli import main
from service.sdk import clear_connectors
from tests.support.cli import (
    PASSWORD,
    ROOT_PASSWORD,
    Result,
    add_user,
    base_env,
    run_mrsm,
    run_mrsm_tty,
)
from tests.support.servers import CHEAP_ARGON2, Server


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return base_env(database_url, tmp_path / "absent.toml")


@pytest.fixture
def mrsm(env) -> Callable[..., Result]:
    """mrsm("show", "tokens", stdin=None, env_extra={}) with no terminal."""
    def call(*args: str, stdin: str | None = None, **env_extra: str) -> Result:
        return run_mrsm(list(args), {**env, **env_extra}, stdin=stdin)
    return call


@pytest.fixture
def mrsm_tty(env) -> Callable[..., Result]:
    """mrsm_tty(["register", "token"], ["alice", ...]) typing each answer on a terminal."""
    def call(args: list[str], answers: list[str], **env_extra: str) -> Result:
        return run_mrsm_tty(args, {**env, **env_extra}, answers)
    return call


@pytest.fixture
async def users(database_url: str) -> dict[str, str]:
    """root (admin), alice and bob (users); their passwords by name."""
    await add_user(database_url, "root", ROOT_PASSWORD, type_="admin")
    await add_user(database_url, "alice")
    await add_user(database_url, "bob")
    return {"root": ROOT_PASSWORD, "alice": PASSWORD, "bob": PASSWORD}


@pytest.fixture
def as_user(api_server: Server) -> Callable[[str, str], dict[str, str]]:
    """The environment variables of an api:main instance logged in as a user."""
    def env_for(username: str, password: str = PASSWORD) -> dict[str, str]:
        return {"MRSM_API_URL": api_server.base_url, "MRSM_API_USERNAME": username,
                "MRSM_API_PASSWORD": password}
    return env_for


@pytest.fixture
def cli(monkeypatch, database_url: str, tmp_path: Path, capsys) -> Iterator[Callable[..., Result]]:
    """`service.cli.main(ARGS)` in this process (no terminal): for the many refusal cases,
    where a subprocess each would only add start-up time."""
    for name in [n for n in os.environ if n.startswith("MRSM_")]:
        monkeypatch.delenv(name)
    for name, value in {**CHEAP_ARGON2, "DATABASE_URL": database_url,
                        "MRSM_CONFIG": str(tmp_path / "absent.toml")}.items():
        monkeypatch.setenv(name, value)

    def call(*args: str, **env_extra: str) -> Result:
        with monkeypatch.context() as patch:
            for name, value in env_extra.items():
                patch.setenv(name, value)
            clear_connectors()
            code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    yield call
    clear_connectors()
