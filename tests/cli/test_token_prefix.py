"""A token named by a unique prefix of its ID (8 characters at least, as git takes commits)
in every command that takes a token ID, on sql:main and api:main alike."""

from __future__ import annotations

import json

import pytest

from tests.support.assertions import connect
from tests.support.cli import ROOT_PASSWORD

# Two IDs that share their first 9 characters (prefix "1859abcd-"), and one unlike them.
FIRST = "1859abcd-0000-4000-8000-000000000001"
SECOND = "1859abcd-1111-4000-8000-000000000002"
OTHER = "77777777-2222-4000-8000-000000000003"


async def _with_id(cli, database_url: str, user: str, label: str, token_id: str) -> dict:
    """A token registered as usual, then given a chosen ID, to arrange prefixes."""
    result = cli("register", "token", "--user", user, "--label", label, "--yes", "--json")
    assert result.returncode == 0, result.stderr
    async with connect(database_url) as conn:
        await conn.execute("UPDATE tokens SET id = $1 WHERE id = $2", token_id,
                           json.loads(result.stdout)["id"])
    return {"id": token_id, "label": label, "user": user}


def _tokens(cli) -> dict[str, dict]:
    return {t["id"]: t for t in json.loads(cli("show", "tokens", "--json").stdout)["items"]}


@pytest.fixture
async def three(cli, users, database_url) -> None:
    await _with_id(cli, database_url, "alice", "first", FIRST)
    await _with_id(cli, database_url, "bob", "second", SECOND)
    await _with_id(cli, database_url, "alice", "other", OTHER)


@pytest.fixture(params=["sql:main", "api:main"])
def instance(request, as_user) -> dict[str, str]:
    """The flags and environment of each instance kind; api:main as the admin (sees all)."""
    if request.param == "sql:main":
        return {}
    return {"INSTANCE": "api:main", **as_user("root", ROOT_PASSWORD)}


def _on(cli, instance: dict[str, str], *args: str):
    env = {k: v for k, v in instance.items() if k != "INSTANCE"}
    flags = ["-i", instance["INSTANCE"]] if "INSTANCE" in instance else []
    return cli(*args, *flags, **env)


async def test_every_token_command_takes_a_unique_prefix(cli, three, instance):
    shown = _on(cli, instance, "show", "tokens", "1859ABCD-0")  # case does not matter
    assert shown.returncode == 0, shown.stderr
    assert f"ID:          {FIRST}" in shown.stdout and "Label:       first" in shown.stdout
    as_json = json.loads(_on(cli, instance, "show", "token", "77777777", "--json").stdout)
    assert as_json["id"] == OTHER
    # Hyphens are ignored: "1859abcd1" is the start of SECOND, as "1859abcd-1" is.
    edited = _on(cli, instance, "edit", "token", "1859abcd1", "--label", "renamed")
    assert edited.returncode == 0, edited.stderr
    assert edited.stdout.startswith("Edited token 'renamed'.")
    invalidated = _on(cli, instance, "invalidate", "token", "7777777722", "--yes")
    assert invalidated.returncode == 0, invalidated.stderr
    assert invalidated.stdout == (f"Invalidated token 'other' ({OTHER}): "
                                  "it no longer works.\n")
    deleted = _on(cli, instance, "delete", "token", "1859abcd-0000", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout == f"Deleted token 'first' ({FIRST}).\n"
    left = _tokens(cli)
    assert set(left) == {SECOND, OTHER}
    assert left[SECOND]["label"] == "renamed" and left[OTHER]["is_valid"] is False


async def test_a_full_id_works_as_before_in_any_case(cli, three, instance):
    shown = _on(cli, instance, "show", "token", OTHER.upper())
    assert shown.returncode == 0, shown.stderr
    assert f"ID:          {OTHER}" in shown.stdout


@pytest.mark.parametrize("command", [
    ["show", "tokens"], ["edit", "token", "--label", "x"], ["invalidate", "token", "--yes"],
    ["delete", "token", "--yes"],
])
async def test_an_ambiguous_prefix_lists_the_candidates_and_changes_nothing(cli, three,
                                                                            instance, command):
    before = _tokens(cli)
    result = _on(cli, instance, *command[:2], "1859abcd", *command[2:])
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr  # one line, candidates included
    assert result.error_line == (
        "mrsm: The token ID prefix '1859abcd' is ambiguous: it starts 2 IDs: "
        f"{FIRST} 'first' of alice; {SECOND} 'second' of bob. Give more characters.")
    assert _tokens(cli) == before


@pytest.mark.parametrize(("given", "message"), [
    ("1859", "A token ID prefix needs 8 characters at least; '1859' has 4."),
    ("1859abc", "A token ID prefix needs 8 characters at least; '1859abc' has 7."),
    ("abcdef12", "No such token. No token ID starts with 'abcdef12'."),
    ("1859abcd-2", "No such token. No token ID starts with '1859abcd-2'."),
    ("not-a-uuid", "No such token."),
])
@pytest.mark.parametrize("command", [
    ["show", "tokens"], ["edit", "token", "--label", "x"], ["invalidate", "token"],
    ["delete", "token"],
])
async def test_a_short_or_unknown_prefix_is_one_clear_line(cli, three, instance, command,
                                                           given, message):
    before = _tokens(cli)
    # No --yes on invalidate and delete: the token is looked up before anything is asked.
    result = _on(cli, instance, *command[:2], given, *command[2:])
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.error_line == f"mrsm: {message}"
    assert _tokens(cli) == before


async def test_over_http_a_prefix_matches_only_the_tokens_the_user_may_see(cli, three,
                                                                          as_user):
    alice = {"INSTANCE": "api:main", **as_user("alice")}
    # bob's token shares the prefix, but alice does not see it: hers is the only match.
    shown = _on(cli, alice, "show", "token", "1859abcd", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == FIRST
    hidden = _on(cli, alice, "show", "token", "1859abcd-1")
    assert hidden.error_line == "mrsm: No such token. No token ID starts with '1859abcd-1'."
    assert _on(cli, alice, "delete", "token", SECOND, "--yes").error_line == \
        "mrsm: No such token."
    assert SECOND in _tokens(cli)


def test_the_console_script_takes_a_prefix(mrsm, cli, users):
    made = cli("register", "token", "--user", "alice", "--label", "seen", "--yes", "--json")
    token = json.loads(made.stdout)
    result = mrsm("show", "tokens", token["id"][:8])
    assert result.returncode == 0, result.stderr
    assert f"ID:          {token['id']}" in result.stdout
