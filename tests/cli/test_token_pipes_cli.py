"""`--pipes` and the pipes prompt of `mrsm register|edit token`, on sql: and api:."""

from __future__ import annotations

import json


def _tokens(cli) -> list[dict]:
    return json.loads(cli("show", "tokens", "--json").stdout)["items"]


def test_the_flag_is_repeatable_and_comma_separated(cli, users):
    result = cli("register", "token", "--user", "alice", "--yes", "--pipes",
                 "mqtt:garden/*/*, mqtt:garden/temperature/-", "--pipes", "dev:1/*/x",
                 "--pipes", "mqtt:garden/*/*")
    assert result.returncode == 0, result.stderr
    assert "Pipes:         mqtt:garden/*/*, mqtt:garden/temperature/-, dev:1/*/x" \
        in result.stdout
    [token] = _tokens(cli)
    assert token["pipes"] == ["mqtt:garden/*/*", "mqtt:garden/temperature/-", "dev:1/*/x"]
    shown = cli("show", "token", token["id"])
    assert "Pipes:       mqtt:garden/*/*, mqtt:garden/temperature/-, dev:1/*/x" in shown.stdout
    table = cli("show", "tokens").stdout.splitlines()[1]
    assert "mqtt:garden/*/*,mqtt:garden/temperature/-,dev:1/*/x" in table.split()
    edited = cli("edit", "token", token["id"], "--pipes", "dev:1/*/x", "--json")
    assert json.loads(edited.stdout)["pipes"] == ["dev:1/*/x"]
    unbound = cli("edit", "token", token["id"], "--pipes", "all", "--json")
    assert json.loads(unbound.stdout)["pipes"] is None


def test_bad_flags_are_one_line_before_anything_is_asked(cli, mrsm_tty, users):
    for value, message in (("mqtt:garden", "'mqtt:garden' is not a pipe pattern"),
                           ("", "--pipes is empty"), ("all,a/b/c", "'all' means every pipe")):
        result = cli("register", "token", "--user", "alice", "--yes", "--pipes", value)
        assert result.returncode == 1
        assert message in result.error_line, result.stderr
    on_tty = mrsm_tty(["register", "token", "--user", "alice", "--pipes", "x/y"], ["label"])
    assert on_tty.returncode == 1 and "Label" not in on_tty.stderr
    assert _tokens(cli) == []


def test_the_prompt_blank_is_all_and_a_bad_answer_is_asked_again(cli, mrsm_tty, users):
    result = mrsm_tty(["register", "token", "--user", "alice"],
                      ["one", "", "", "", "y"])
    assert result.returncode == 0, result.stderr
    assert "Pipes it may reach" in result.stderr and "Pipes:      all" in result.stderr
    result = mrsm_tty(["register", "token", "--user", "alice"],
                      ["two", "", "", "mqtt:*/x/y", "mqtt:garden/*/*, dev:1/t/-", "y"])
    assert result.returncode == 0, result.stderr
    assert "'mqtt:*' " not in result.stderr  # the refusal names the whole pattern
    assert "'mqtt:*/x/y' is not a pipe pattern" in result.stderr
    assert result.stderr.count("Pipes it may reach") == 2
    assert "Pipes:      mqtt:garden/*/*, dev:1/t/-" in result.stderr
    pipes = {t["label"]: t["pipes"] for t in _tokens(cli)}
    assert pipes == {"one": None, "two": ["mqtt:garden/*/*", "dev:1/t/-"]}


def test_edit_on_a_terminal_shows_the_current_pipes(cli, mrsm_tty, users):
    cli("register", "token", "--user", "alice", "--label", "dev", "--yes", "--pipes", "a/b/-")
    [token] = _tokens(cli)
    result = mrsm_tty(["edit", "token", token["id"]], ["", "", "", "a/*/-"])
    assert result.returncode == 0, result.stderr
    assert "Pipes [a/b/-]" in result.stderr
    assert _tokens(cli)[0]["pipes"] == ["a/*/-"]
    kept = mrsm_tty(["edit", "token", token["id"]], ["", "", "", ""])
    assert "Nothing changed." in kept.stdout
    assert _tokens(cli)[0]["pipes"] == ["a/*/-"]


def test_over_http_a_bound_key_is_refused_wider_pipes(cli, users, as_user):
    alice = as_user("alice")
    made = cli("register", "token", "-i", "api:main", "--yes", "--pipes", "mqtt:garden/*/*",
               "--json", **alice)
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["api_key"]
    bound = {"MRSM_API_KEY": key}
    wider = cli("register", "token", "-i", "api:main", "--yes", "--pipes", "*/*/*",
                **alice, **bound)
    assert wider.returncode == 1
    assert "not within the pipes of the credential making this request" in wider.stderr
    inherited = cli("register", "token", "-i", "api:main", "--yes", "--json", **alice, **bound)
    assert json.loads(inherited.stdout)["pipes"] == ["mqtt:garden/*/*"]
