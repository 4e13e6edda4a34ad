"""`mrsm invalidate token` asks first (it cannot be undone), and `mrsm register token`
refuses a scope its owner does not hold where it is typed, before any confirmation."""

from __future__ import annotations

import json

from tests.support.cli import ROOT_PASSWORD

ALICE_HOLDS = "read:pipes write:pipes delete:pipes read:tokens write:tokens"
REFUSED = f"The token's owner does not hold: read:users. alice holds: {ALICE_HOLDS}."


def _register(cli, user: str, label: str, *flags: str) -> dict:
    result = cli("register", "token", "--user", user, "--label", label, "--yes", "--json",
                 *flags)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _tokens(cli) -> list[dict]:
    return json.loads(cli("show", "tokens", "--json").stdout)["items"]


def test_invalidate_token_asks_first(mrsm, mrsm_tty, cli, users):
    token = _register(cli, "alice", "leaked")
    refused = mrsm("invalidate", "token", token["id"])
    assert refused.returncode == 1
    assert refused.stderr == ("mrsm: The confirmation is missing and there is no terminal "
                              "to ask: pass --yes.\n")
    assert _tokens(cli)[0]["is_valid"] is True
    declined = mrsm_tty(["invalidate", "token", token["id"]], [""])  # the default is no
    assert declined.returncode == 1
    assert (f"Invalidate token 'leaked' ({token['id']}) of alice? It stops working for good. "
            "[y/N]") in declined.stderr
    assert declined.stderr.rstrip().endswith("mrsm: Cancelled: nothing was invalidated.")
    assert declined.stdout == ""
    said_no = mrsm_tty(["invalidate", "token", token["id"][:8]], ["n"])
    assert said_no.returncode == 1
    assert _tokens(cli)[0]["is_valid"] is True
    accepted = mrsm_tty(["invalidate", "token", token["id"][:8]], ["y"])
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout == (f"Invalidated token 'leaked' ({token['id']}): "
                               "it no longer works.\n")
    [listed] = _tokens(cli)
    assert listed["is_valid"] is False and listed["invalidated_at"] is not None


def test_invalidate_token_with_yes_asks_nothing_and_json_is_the_token(cli, users):
    token = _register(cli, "alice", "ci")
    result = cli("invalidate", "token", token["id"], "--yes", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = json.loads(result.stdout)
    assert (out["id"], out["is_valid"]) == (token["id"], False)


def test_invalidate_an_ownerless_token_names_no_owner(mrsm_tty, cli, users):
    token = _register(cli, "bob", "orphan")
    assert cli("delete", "user", "bob", "--yes").returncode == 0
    result = mrsm_tty(["invalidate", "token", token["id"]], ["n"])
    assert f"Invalidate token 'orphan' ({token['id']})? It stops" in result.stderr


def test_invalidate_over_http_asks_too(cli, users, as_user):
    env = as_user("alice")
    token = json.loads(cli("register", "token", "--yes", "--json", "-i", "api:main",
                           **env).stdout)
    refused = cli("invalidate", "token", token["id"], "-i", "api:main", **env)
    assert refused.returncode == 1
    assert refused.error_line == ("mrsm: The confirmation is missing and there is no "
                                  "terminal to ask: pass --yes.")
    assert _tokens(cli)[0]["is_valid"] is True


def test_an_unheld_scope_is_refused_at_the_prompt_and_asked_again(mrsm_tty, cli, users):
    result = mrsm_tty(["register", "token"],
                      ["alice", "sensor", "", "read:pipes read:users", "read:pipes", "", "y"])
    assert result.returncode == 0, result.stderr
    err = result.stderr
    refusal = err.index("The token's owner does not hold: read:users. alice holds: "
                        f"{ALICE_HOLDS}.")
    assert err.count("Scopes (space or comma separated") == 2
    assert err.index("Scopes (") < refusal < err.rindex("Scopes (") \
        < err.index("Register this token? [Y/n]")
    [token] = _tokens(cli)
    assert (token["label"], token["scopes"]) == ("sensor", ["read:pipes"])


def test_three_unheld_answers_register_nothing_and_ask_for_no_confirmation(mrsm_tty, cli,
                                                                           users):
    result = mrsm_tty(["register", "token", "--user", "alice"],
                      ["x", "", "read:users", "write:users", "read:users"])
    assert result.returncode == 1
    assert result.stderr.rstrip().endswith(f"mrsm: {REFUSED}")
    assert "Register this token?" not in result.stderr
    assert _tokens(cli) == []


def test_an_unheld_scopes_flag_is_one_line_naming_what_the_owner_lacks(mrsm, mrsm_tty, cli,
                                                                       users):
    result = mrsm("register", "token", "--user", "alice", "--scopes",
                  "read:pipes write:users read:users")
    assert result.returncode == 1
    assert result.stderr == ("mrsm: The token's owner does not hold: write:users read:users. "
                             f"alice holds: {ALICE_HOLDS}.\n")
    # On a terminal the flag is not asked over: refused before the first question.
    on_tty = mrsm_tty(["register", "token", "--user", "alice", "--scopes", "read:users"],
                      ["label"])
    assert on_tty.returncode == 1
    assert "Label" not in on_tty.stderr and "Register this token?" not in on_tty.stderr
    assert on_tty.stderr == f"mrsm: {REFUSED}\n"
    assert _tokens(cli) == []


def test_an_admin_owner_holds_every_scope(cli, users):
    token = _register(cli, "root", "admin", "--scopes", "read:users write:users")
    assert token["scopes"] == ["read:users", "write:users"]


def test_over_http_the_owners_scopes_come_from_the_instance(mrsm_tty, cli, users, as_user):
    alice = as_user("alice")
    mine = mrsm_tty(["register", "token", "-i", "api:main"],
                    ["", "", "read:users", "read:tokens", "", "y"], **alice)
    assert mine.returncode == 0, mine.stderr
    assert REFUSED in mine.stderr
    assert [t["scopes"] for t in _tokens(cli)] == [["read:tokens"]]
    # An admin registering for alice: her scopes are listed from the users.
    root = as_user("root", ROOT_PASSWORD)
    for_alice = cli("register", "token", "--user", "alice", "--scopes", "read:users", "--yes",
                    "-i", "api:main", **root)
    assert for_alice.returncode == 1
    assert for_alice.stderr == f"mrsm: {REFUSED}\n"
    gone = cli("register", "token", "--user", "nobody", "--yes", "-i", "api:main", **root)
    assert gone.error_line == "mrsm: There is no user 'nobody'."
    # A user may not list users; the instance's own refusal then comes back as it is.
    for_bob = cli("register", "token", "--user", "bob", "--scopes", "read:pipes", "--yes",
                  "-i", "api:main", **alice)
    assert for_bob.returncode == 1
    assert for_bob.error_line == "mrsm: Only an admin may register a token for another user."
    assert len(_tokens(cli)) == 1
