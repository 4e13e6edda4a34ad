"""The command line itself: usage errors, `mrsm migrate`, `mrsm start api`."""

from __future__ import annotations

import json
import secrets
import urllib.request

import pytest

from service.cli import COMMANDS
from tests.support.cli import MRSM, env_changes
from tests.support.db import create_database, drop_database, with_database
from tests.support.servers import free_port, run_server


def test_no_words_prints_the_help(cli):
    result = cli()
    assert result.returncode == 0
    assert "mrsm register token" in result.stdout


@pytest.mark.parametrize(("args", "code", "message"), [
    (["frobnicate", "tokens"], 1, "mrsm: Unknown command: frobnicate tokens (try: register "),
    (["show"], 1, "mrsm: Unknown command: show (try:"),
    (["show", "tokens", "--bogus"], 2, "mrsm: unrecognized arguments: --bogus"),
    (["show", "tokens", "--limit", "0"], 1, "mrsm: --limit must be 1 to 1000"),
    (["show", "tokens", "-i", "ftp:main"], 1,
     "mrsm: Unknown instance 'ftp:main': use sql:LABEL or api:LABEL."),
    (["show", "tokens", "-i", "sql:other"], 1, "mrsm: sql:other has no database: set "
                                               "MRSM_SQL_OTHER"),
    (["migrate", "-i", "api:main"], 1, "mrsm: This runs on a sql: instance"),
    (["migrate", "sideways"], 1, "mrsm: Use: mrsm migrate, or mrsm migrate down [N]"),
    (["migrate", "down", "x"], 1, "mrsm: Use: mrsm migrate, or mrsm migrate down [N]"),
    (["register", "token", "extra"], 1, "mrsm: mrsm register token takes no argument here: "
                                        "extra"),
    (["show", "users", "alice"], 1, "mrsm: mrsm show users takes no argument here: alice"),
    (["show", "tokens", "a", "b"], 1, "mrsm: Give at most one token ID"),
])
def test_usage_errors_are_one_line(cli, args, code, message):
    if code == 2:
        with pytest.raises(SystemExit) as exit_info:
            cli(*args)
        assert exit_info.value.code == 2
        return
    result = cli(*args)
    assert result.returncode == code
    assert result.stderr.count("\n") == 1
    assert result.error_line.startswith(message), result.stderr


def test_usage_error_from_the_console_script(mrsm):
    result = mrsm("show", "tokens", "--bogus")
    assert result.returncode == 2
    assert result.stderr == "mrsm: unrecognized arguments: --bogus (see mrsm --help)\n"


def test_an_unreachable_database_is_one_line(mrsm):
    result = mrsm("show", "tokens",
                  DATABASE_URL=f"postgresql://u:hidden-pw@127.0.0.1:{free_port()}/x")
    assert result.returncode == 1
    assert result.error_line.startswith("mrsm: Cannot connect to the database "
                                        "postgresql://u:***@127.0.0.1:")
    assert "hidden-pw" not in result.stderr


def test_another_sql_instance_comes_from_its_variable(cli, users, database_url):
    result = cli("show", "users", "--json", "-i", "sql:reports",
                 DATABASE_URL="", MRSM_SQL_REPORTS=database_url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"] == 3


def test_migrate_is_python_m_service_migrate(mrsm):
    result = mrsm("migrate")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "applied: nothing (up to date)\n"


def test_start_api_serves_like_python_m_service(database_url, tmp_path):
    port = free_port()
    command = [str(MRSM), "start", "api", "--port", str(port)]
    # No PORT (nor HOST) in its environment: the port it listens on is the option's.
    with run_server(database_url, port=port, command=command, log=tmp_path / "start-api.log",
                    **env_changes(database_url, tmp_path / "absent.toml", PORT=None, HOST=None,
                                  ADMIN_USERNAME="root", ADMIN_PASSWORD="root-password-1",
                                  ACCESS_LOG="0")) as server:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz",  # noqa: S310
                                    timeout=1) as resp:
            assert json.load(resp) == {"status": "ok"}
    assert f"mrsm-tokens listening on http://127.0.0.1:{port}" in server.log()
    assert server.process.returncode == 0


async def test_migrate_makes_an_empty_database_usable(mrsm, server_dsn):
    name = f"mrsm_cli_{secrets.token_hex(4)}"
    await create_database(server_dsn, name)
    try:
        empty = with_database(server_dsn, name)
        before = mrsm("show", "tokens", DATABASE_URL=empty)
        assert before.returncode == 1
        assert before.stderr == "mrsm: The database has no tables yet: run `mrsm migrate`.\n"
        migrated = mrsm("migrate", DATABASE_URL=empty)
        assert migrated.returncode == 0, migrated.stderr
        assert migrated.stdout.startswith("applied: 0001_users_tokens, ")
        after = mrsm("show", "tokens", DATABASE_URL=empty)
        assert (after.returncode, after.stdout) == (0, "No tokens.\n")
    finally:
        await drop_database(server_dsn, name)


def test_not_a_postgresql_url_is_one_line(cli):
    result = cli("show", "tokens", DATABASE_URL="mysql://u@localhost/db")
    assert result.returncode == 1
    assert result.error_line.startswith(
        "mrsm: Cannot connect to the database mysql://u@localhost/db: invalid DSN")


def test_a_bug_is_still_one_line_with_the_trace_on_request(cli, monkeypatch):
    def broken(ctx):
        raise RuntimeError("boom")

    monkeypatch.setitem(COMMANDS, ("show", "token"), broken)
    result = cli("show", "tokens")
    assert result.returncode == 1
    assert result.stderr == ("mrsm: unexpected error (RuntimeError: boom); "
                             "set MRSM_DEBUG=1 to see where.\n")
    with pytest.raises(RuntimeError, match="boom"):
        cli("show", "tokens", MRSM_DEBUG="1")
