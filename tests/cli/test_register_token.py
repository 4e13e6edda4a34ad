"""`mrsm register token` on sql:main: the prompts in order, the flags, and the refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from service.auth.apikeys import make_api_key
from service.auth.scopes import DEFAULT_USER_SCOPES


def _credentials(stdout: str) -> dict[str, str]:
    found = {}
    for line in stdout.splitlines():
        name, sep, value = line.strip().partition(": ")
        if sep and name in {"Client ID", "Client Secret", "API Key", "Expiration", "Scopes"}:
            found[name] = value.strip()
    return found


def _tokens(mrsm) -> list[dict]:
    result = mrsm("show", "tokens", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["items"]


def test_prompts_in_order_then_prints_the_credentials_once(mrsm, mrsm_tty, users):
    result = mrsm_tty(["register", "token"],
                      ["2", "device-1", "30d", "read:pipes, write:pipes", "", ""])
    assert result.returncode == 0, result.stderr
    prompts = ["Users:", "Owner (name or number)", "Label", "Expiration", "Scopes", "Pipes",
               "Register this token? [Y/n]"]
    positions = [result.stderr.index(p) for p in prompts]
    assert positions == sorted(positions), result.stderr
    # The users are listed by name (alice, bob, root) and numbered: 2 is bob.
    assert "1  alice" in result.stderr and "3  root (admin)" in result.stderr
    creds = _credentials(result.stdout)
    assert creds["API Key"] == make_api_key(creds["Client ID"], creds["Client Secret"])
    assert "the secret will not be shown again" in result.stdout
    assert creds["Scopes"] == "read:pipes write:pipes"
    [token] = _tokens(mrsm)
    assert token["id"] == creds["Client ID"]
    assert (token["label"], token["user"]) == ("device-1", "bob")
    assert token["scopes"] == ["read:pipes", "write:pipes"]
    expires = datetime.fromisoformat(token["expiration"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)
    # The secret was shown once and is in no later output.
    assert creds["Client Secret"] not in mrsm("show", "tokens").stdout
    assert creds["Client Secret"] not in json.dumps(_tokens(mrsm))


def test_blank_answers_take_the_defaults_and_bad_ones_are_asked_again(mrsm, mrsm_tty, users):
    answers = ["zed", "9", "Alice",        # not a user, out of range, then a name (any case)
               "",                          # label: generated
               "tomorrow", "none",          # not a date, then never
               "read:bogus", "",            # unknown scope, then all of alice's
               "",                          # pipes: all
               "yes"]
    result = mrsm_tty(["register", "token"], answers)
    assert result.returncode == 0, result.stderr
    assert "No user 'zed'" in result.stderr and "No user '9'" in result.stderr
    assert "Not an expiration: 'tomorrow'" in result.stderr
    assert "Unknown scope(s): read:bogus" in result.stderr
    assert _credentials(result.stdout)["Expiration"] == "never"
    [token] = _tokens(mrsm)
    assert token["user"] == "alice"
    assert token["label"].startswith("token-")
    assert token["expiration"] is None
    assert token["scopes"] == list(DEFAULT_USER_SCOPES)


def test_answering_no_registers_nothing(mrsm, mrsm_tty, users):
    result = mrsm_tty(["register", "token"], ["alice", "", "", "", "", "n"])
    assert result.returncode == 1
    assert result.stderr.rstrip().endswith("mrsm: Cancelled: nothing was registered.")
    assert _tokens(mrsm) == []


def test_flags_replace_every_prompt(mrsm, users):
    result = mrsm("register", "token", "--user", "alice", "--label", "ci", "--ttl-days", "7",
                  "--scopes", "read:pipes read:tokens", "--yes")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # nothing asked
    creds = _credentials(result.stdout)
    [token] = _tokens(mrsm)
    assert token["id"] == creds["Client ID"]
    assert (token["label"], token["user"]) == ("ci", "alice")
    assert token["scopes"] == ["read:pipes", "read:tokens"]
    expires = datetime.fromisoformat(token["expiration"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=5)


def test_json_prints_the_created_token_as_post_tokens_does(mrsm, users):
    result = mrsm("register", "token", "--user", "bob", "--expires", "2099-01-31", "--yes",
                  "--json")
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["api_key"] == make_api_key(created["id"], created["secret"])
    assert created["expiration"] == "2099-01-31T00:00:00Z"
    [listed] = _tokens(mrsm)
    assert set(created) - {"secret", "api_key"} == set(listed)
    assert {k: created[k] for k in listed} == listed


def test_without_a_terminal_a_missing_answer_names_its_flag(mrsm, cli, users):
    no_owner = mrsm("register", "token", "--yes")
    assert no_owner.returncode == 1
    assert no_owner.stderr.count("\n") == 1
    assert "--user" in no_owner.error_line
    no_confirmation = cli("register", "token", "--user", "alice")
    assert no_confirmation.returncode == 1
    assert no_confirmation.stderr.count("\n") == 1
    assert "--yes" in no_confirmation.error_line
    assert _tokens(cli) == []


def test_refusals_are_one_line_and_register_nothing(cli, users):
    cases = {
        ("--user", "nobody"): "mrsm: There is no user 'nobody'.",
        ("--user", "alice", "--scopes", "read:users"):
            "mrsm: The token's owner does not hold: read:users.",
        ("--user", "alice", "--expires", "2001-01-01"):
            "mrsm: The expiration is not allowed: must be in the future.",
        ("--user", "alice", "--expires", "soon"): "mrsm: Not an expiration: 'soon'",
        ("--user", "alice", "--expires", "none", "--ttl-days", "3"):
            "mrsm: Give --expires or --ttl-days, not both.",
        ("--user", "alice", "--label", "x" * 101):
            "mrsm: The request is not valid: label: Length must be between 1 and 100.",
    }
    for flags, message in cases.items():
        result = cli("register", "token", *flags, "--yes")
        assert result.returncode == 1, (flags, result.stdout)
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.error_line.startswith(message), (flags, result.stderr)
    assert _tokens(cli) == []


def test_a_label_is_unique_per_owner(cli, users):
    first = cli("register", "token", "--user", "alice", "--label", "same", "--yes")
    assert first.returncode == 0, first.stderr
    again = cli("register", "token", "--user", "alice", "--label", "same", "--yes")
    assert again.returncode == 1
    assert again.error_line == "mrsm: alice already has a token labelled 'same'."
