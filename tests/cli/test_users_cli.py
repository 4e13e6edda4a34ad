"""`mrsm register user`, `show users`, `delete user` on sql:main."""

from __future__ import annotations

import json

import asyncpg

from service.auth.passwords import PasswordHasher
from service.users.schemas import UserListSchema, UserSchema
from tests.support.cli import cheap_settings


async def _password_matches(database_url: str, username: str, password: str) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE username = $1",
                                     username)
    finally:
        await conn.close()
    hasher = PasswordHasher(cheap_settings(database_url))
    try:
        return await hasher.verify(stored, password)
    finally:
        hasher.close()


async def test_register_user_reads_the_password_from_stdin(mrsm, cli, database_url):
    result = mrsm("register", "user", "carol", "--password-stdin", "--json",
                  stdin="carol-password-1\n")
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert UserSchema().validate(created) == {}
    assert (created["username"], created["type"]) == ("carol", "user")
    assert "carol-password-1" not in result.stdout + result.stderr
    assert await _password_matches(database_url, "carol", "carol-password-1")


async def test_register_user_on_a_terminal_asks_twice_without_echo(mrsm_tty, database_url):
    result = mrsm_tty(["register", "user", "--type", "admin"],
                      ["dave", "dave-password-1", "dave-password-1"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Registered admin 'dave' with scopes: read:pipes")
    assert "Username:" in result.stderr and "Repeat the password:" in result.stderr
    assert "dave-password-1" not in result.stdout + result.stderr
    assert await _password_matches(database_url, "dave", "dave-password-1")
    differ = mrsm_tty(["register", "user", "erin"], ["erin-password-1", "erin-password-2"])
    assert differ.returncode == 1
    assert differ.stderr.rstrip().endswith(
        "mrsm: The two passwords differ; nothing was registered.")


def test_register_user_refusals(cli, users):
    cases = {
        ("alice", "--password", "another-password"): "The username 'alice' is taken.",
        ("ALICE", "--password", "another-password"): "The username 'ALICE' is taken.",
        ("frank", "--password", "short"):
            "The request is not valid: password: Length must be between 8",
        ("frank",): "The password is missing and there is no terminal to ask: "
                    "pass --password-stdin.",
        ("frank", "--password", "long-enough-1", "--scopes", "write:users"):
            "Some scopes are for admins only.",
        ("bad name", "--password", "long-enough-1"): "The request is not valid: username:",
        (): "The username is missing and there is no terminal to ask",
    }
    for args, message in cases.items():
        result = cli("register", "user", *args)
        assert result.returncode == 1, args
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.error_line.startswith(f"mrsm: {message}"), (args, result.stderr)
    names = [u["username"] for u in json.loads(cli("show", "users", "--json").stdout)["items"]]
    assert names == ["alice", "bob", "root"]


def test_show_users_table_and_json(mrsm, cli, users):
    result = mrsm("show", "users")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["USERNAME", "TYPE", "SCOPES", "CREATED"]
    assert [r.split()[:2] for r in rows] == [["alice", "user"], ["bob", "user"],
                                             ["root", "admin"]]
    page = json.loads(cli("show", "users", "--json").stdout)
    assert UserListSchema().validate(page) == {}
    assert page["total"] == 3


def test_delete_user_orphans_and_invalidates_their_tokens(mrsm, cli, users):
    token = json.loads(cli("register", "token", "--user", "bob", "--yes", "--json").stdout)
    refused = mrsm("delete", "user", "bob")
    assert refused.returncode == 1 and "--yes" in refused.error_line
    result = mrsm("delete", "user", "bob", "--yes")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Deleted user 'bob'.\n"
    [orphan] = json.loads(cli("show", "tokens", "--json").stdout)["items"]
    assert orphan["id"] == token["id"]
    assert orphan["user"] is None and orphan["is_valid"] is False
    missing = cli("delete", "user", "bob", "--yes")
    assert (missing.returncode, missing.error_line) == (1, "mrsm: No such user.")
    last_admin = cli("delete", "user", "root", "--yes")
    assert last_admin.returncode == 1
    assert last_admin.error_line == "mrsm: This is the last admin; make another admin first."
