"""`mrsm show tokens`, `edit token`, `invalidate token`, `delete token` on sql:main."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from service.tokens.schemas import TokenListSchema, TokenSchema


def _register(cli, user: str, label: str, *flags: str) -> dict:
    result = cli("register", "token", "--user", user, "--label", label, "--yes", "--json",
                 *flags)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _listed(cli, *flags: str) -> dict:
    result = cli("show", "tokens", "--json", *flags)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_show_tokens_prints_a_table_of_every_token(mrsm, cli, users):
    mine = _register(cli, "alice", "sensor", "--scopes", "read:pipes", "--expires", "none")
    _register(cli, "bob", "bobs")
    orphan = _register(cli, "bob", "orphan")
    assert cli("delete", "user", "bob", "--yes").returncode == 0  # bob's tokens lose him
    result = mrsm("show", "tokens")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ID", "LABEL", "USER", "SCOPES", "EXPIRATION", "LAST", "USED",
                              "PIPES", "VALID"]
    assert len(rows) == 3
    row = next(r for r in rows if r.startswith(mine["id"]))
    assert row.split() == [mine["id"], "sensor", "alice", "read:pipes", "never", "never", "all",
                           "yes"]
    row = next(r for r in rows if r.startswith(orphan["id"]))
    assert row.split()[1:3] == ["orphan", "(none)"]
    assert row.split()[-1] == "no"


def test_show_tokens_json_is_the_get_tokens_shape_and_filters_by_user(cli, users):
    _register(cli, "alice", "a1")
    _register(cli, "bob", "b1")
    page = _listed(cli)
    assert TokenListSchema().validate(page) == {}
    assert set(page) == {"items", "total", "limit", "offset"}
    assert (page["total"], page["limit"], page["offset"]) == (2, 100, 0)
    assert {t["label"] for t in _listed(cli, "--user", "alice")["items"]} == {"a1"}
    assert _listed(cli, "--user", "nobody")["items"] == []
    first = _listed(cli, "--limit", "1")
    assert len(first["items"]) == 1 and first["total"] == 2
    assert _listed(cli, "--limit", "1", "--offset", "1")["items"] != first["items"]
    assert cli("show", "tokens").stdout.count("\n") == 3
    paged = cli("show", "tokens", "--limit", "1")
    assert "Showing 1-1 of 2" in paged.stderr
    empty = cli("show", "tokens", "--user", "root")
    assert empty.stdout == "No tokens for root.\n"


def test_show_token_id_prints_one_token(cli, users):
    token = _register(cli, "alice", "one")
    result = cli("show", "token", token["id"])
    assert result.returncode == 0
    assert f"ID:          {token['id']}" in result.stdout
    assert "Label:       one" in result.stdout and "User:        alice" in result.stdout
    as_json = json.loads(cli("show", "token", token["id"], "--json").stdout)
    assert TokenSchema().validate(as_json) == {}
    assert as_json["id"] == token["id"]


def test_edit_token_with_flags(mrsm, cli, users):
    token = _register(cli, "alice", "old")
    result = mrsm("edit", "token", token["id"], "--label", "new", "--ttl-days", "10",
                  "--scopes", "read:pipes,write:pipes")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Edited token 'new'.")
    [edited] = _listed(cli)["items"]
    assert (edited["label"], edited["scopes"]) == ("new", ["read:pipes", "write:pipes"])
    expires = datetime.fromisoformat(edited["expiration"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=10))) < timedelta(minutes=5)
    never = json.loads(cli("edit", "token", token["id"], "--expires", "never", "--json").stdout)
    assert never["expiration"] is None and never["label"] == "new"


def test_edit_token_on_a_terminal_asks_with_the_current_values(mrsm_tty, cli, users):
    token = _register(cli, "alice", "keep", "--ttl-days", "5")
    result = mrsm_tty(["edit", "token", token["id"]], ["", "none", "read:tokens", ""])
    assert result.returncode == 0, result.stderr
    assert "Label [keep]:" in result.stderr
    assert "Scopes [read:pipes write:pipes delete:pipes read:tokens write:tokens]:" \
        in result.stderr
    [edited] = _listed(cli)["items"]
    assert (edited["label"], edited["expiration"], edited["scopes"]) == \
        ("keep", None, ["read:tokens"])


@pytest.mark.parametrize(("args", "message"), [
    (["edit", "token", "ID"], "Nothing to change and there is no terminal to ask: "
                              "pass --label, --expires, --ttl-days, --scopes or --pipes."),
    (["edit", "token", "ID", "--scopes", " "], "--scopes is empty: name at least one scope."),
    (["edit", "token", "ID", "--scopes", "read:users"],
     "The token's owner does not hold: read:users."),
    (["edit", "token", "ID", "--ttl-days", "0"], "--ttl-days must be at least 1"),
    (["edit", "token", "--label", "x"], "Give one token ID: mrsm edit token ID"),
    (["edit", "token", "00000000-0000-4000-8000-000000000000", "--label", "x"],
     "No such token."),
    (["edit", "token", "not-a-uuid", "--label", "x"], "No such token."),
    (["invalidate", "token", "not-a-uuid"], "No such token."),
    (["delete", "token", "00000000-0000-4000-8000-000000000000", "--yes"], "No such token."),
    (["show", "token", "00000000-0000-4000-8000-000000000000"], "No such token."),
])
def test_token_commands_refuse_in_one_line(cli, users, args, message):
    token = _register(cli, "alice", "t")
    result = cli(*[token["id"] if a == "ID" else a for a in args])
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.error_line.startswith(f"mrsm: {message}"), result.stderr
    assert _listed(cli)["items"][0]["label"] == "t"  # unchanged


def test_invalidate_token_keeps_it_listed_as_not_valid(mrsm, cli, users):
    token = _register(cli, "alice", "leaked")
    result = mrsm("invalidate", "token", token["id"], "--yes")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Invalidated token 'leaked' ({token['id']}): it no longer works.\n"
    [listed] = _listed(cli)["items"]
    assert listed["is_valid"] is False and listed["invalidated_at"] is not None


def test_delete_token_asks_first(mrsm, mrsm_tty, cli, users):
    token = _register(cli, "alice", "gone")
    refused = mrsm("delete", "token", token["id"])
    assert refused.returncode == 1
    assert "--yes" in refused.error_line
    declined = mrsm_tty(["delete", "token", token["id"]], [""])  # the default is no
    assert declined.returncode == 1
    assert f"Delete token 'gone' ({token['id']}) of alice permanently? [y/N]" in declined.stderr
    assert declined.stderr.rstrip().endswith("mrsm: Cancelled: nothing was deleted.")
    assert len(_listed(cli)["items"]) == 1
    accepted = mrsm_tty(["delete", "token", token["id"]], ["y"])
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout == f"Deleted token 'gone' ({token['id']}).\n"
    assert _listed(cli)["items"] == []
    other = _register(cli, "alice", "other")
    assert cli("delete", "token", other["id"], "--yes", "--json").stdout == ""
    assert _listed(cli)["items"] == []
