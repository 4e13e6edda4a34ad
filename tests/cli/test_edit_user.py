"""`mrsm edit user NAME`: type, scopes and password, on sql:main (as the operator) and over
HTTP (PATCH /users/{username}), under the instance's rules."""

from __future__ import annotations

import json

import pytest

from service.users.schemas import UserSchema
from tests.cli.test_users_audit import THIS_TREE, user_events
from tests.cli.test_users_cli import _password_matches
from tests.support.assertions import connect
from tests.support.cli import PASSWORD, ROOT_PASSWORD

NEW = "a-new-password-1"  # noqa: S105 (a test fixture)


async def _stored(database_url: str, username: str) -> tuple[str, list[str]]:
    async with connect(database_url) as conn:
        row = await conn.fetchrow("SELECT type, scopes FROM users WHERE username = $1",
                                  username)
    return row["type"], sorted(row["scopes"])


async def test_a_lost_admin_password_is_given_anew_on_sql(mrsm, api_server, users,
                                                          database_url):
    result = mrsm("edit", "user", "root", "--password-stdin", stdin=f"{NEW}\n", **THIS_TREE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Edited admin 'root': scopes: read:pipes")
    assert result.stdout.rstrip().endswith("; password changed.")
    assert NEW not in result.stdout + result.stderr
    assert await _password_matches(database_url, "root", NEW)
    assert not await _password_matches(database_url, "root", ROOT_PASSWORD)
    # The running service takes the new password at once (the change is announced).
    login = mrsm("show", "users", "-i", "api:main", MRSM_API_URL=api_server.base_url,
                 MRSM_API_USERNAME="root", MRSM_API_PASSWORD=NEW)
    assert login.returncode == 0, login.stderr
    [event] = await user_events(database_url)
    assert (event["kind"], event["actor_kind"], event["target_username"]) == \
        ("user.changed", "operator", "root")
    assert event["source"] is None
    assert json.loads(event["details"]) == {"password": "changed"}
    assert NEW not in event["details"]


async def test_type_and_scopes_with_flags(cli, users, database_url):
    promoted = cli("edit", "user", "alice", "--type", "admin", "--json")
    assert promoted.returncode == 0, promoted.stderr
    out = json.loads(promoted.stdout)
    assert UserSchema().validate(out) == {}
    assert (out["username"], out["type"]) == ("alice", "admin")
    assert "write:users" in out["scopes"]
    assert (await _stored(database_url, "alice"))[0] == "admin"
    # Without regard to case, as the usernames are; a demotion drops the admin-only scopes.
    demoted = cli("edit", "user", "ALICE", "--type", "user", "--scopes", "read:pipes,read:tokens")
    assert demoted.returncode == 0, demoted.stderr
    assert demoted.stdout == "Edited user 'alice': scopes: read:pipes read:tokens.\n"
    assert await _stored(database_url, "alice") == ("user", ["read:pipes", "read:tokens"])
    assert await _password_matches(database_url, "alice", PASSWORD)  # untouched


@pytest.mark.parametrize(("args", "message"), [
    (["edit", "user"], "Give one username: mrsm edit user NAME."),
    (["edit", "user", "alice", "bob", "--type", "admin"],
     "Give one username: mrsm edit user NAME."),
    (["edit", "user", "alice"], "Nothing to change and there is no terminal to ask: "
                                "pass --type, --scopes or --password-stdin."),
    (["edit", "user", "nobody", "--type", "admin"], "No such user."),
    (["edit", "user", "root", "--type", "user"],
     "This is the last admin; make another admin first."),
    (["edit", "user", "alice", "--scopes", "read:pipes read:users"],
     "Some scopes are for admins only."),
    (["edit", "user", "alice", "--scopes", "bogus"],
     "The request is not valid: scopes: unknown scope(s): bogus"),
    (["edit", "user", "alice", "--scopes", " , "], "--scopes is empty: name at least one scope."),
    (["edit", "user", "alice", "--password", "short"],
     "The request is not valid: password: Length must be between 8 and 1024."),
    (["edit", "user", "alice", "--password", NEW, "--password-stdin"],
     "Give --password or --password-stdin, not both."),
])
async def test_edit_user_refusals_are_one_line_and_change_nothing(cli, users, database_url,
                                                                  args, message):
    before = {name: await _stored(database_url, name) for name in ("root", "alice", "bob")}
    result = cli(*args)
    assert result.returncode == 1
    assert result.stderr == f"mrsm: {message}\n"
    assert {name: await _stored(database_url, name) for name in before} == before
    assert await _password_matches(database_url, "alice", PASSWORD)
    assert await user_events(database_url) == []


def test_password_stdin_needs_a_password(mrsm, users):
    result = mrsm("edit", "user", "alice", "--password-stdin", stdin="\n")
    assert result.returncode == 1
    assert result.stderr == "mrsm: --password-stdin: no password on standard input.\n"


async def test_on_a_terminal_each_field_is_asked_with_its_current_value(mrsm_tty, users,
                                                                        database_url):
    result = mrsm_tty(["edit", "user", "alice"],
                      ["superuser", "", "read:pipes write:pipes", NEW, NEW])
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert err.count("Type [user] (admin or user): ") == 2
    assert "Not a user type: 'superuser' (use admin or user)." in err
    assert ("Scopes [read:pipes write:pipes delete:pipes read:tokens write:tokens]: "
            in err)
    assert err.index("Scopes [") < err.index("New password (blank: unchanged): ") \
        < err.index("Repeat the new password: ")
    assert NEW not in result.stdout + err  # typed without echo
    assert result.stdout == ("Edited user 'alice': scopes: read:pipes write:pipes; "
                             "password changed.\n")
    assert await _stored(database_url, "alice") == ("user", ["read:pipes", "write:pipes"])
    assert await _password_matches(database_url, "alice", NEW)


async def test_on_a_terminal_blank_answers_change_nothing(mrsm_tty, users, database_url):
    result = mrsm_tty(["edit", "user", "root"], ["", "", ""])
    assert result.returncode == 0, result.stderr
    assert "Repeat the new password" not in result.stderr
    assert result.stdout == "Nothing changed.\n"
    assert await user_events(database_url) == []
    differ = mrsm_tty(["edit", "user", "root"], ["", "", NEW, "something-else-1"])
    assert differ.returncode == 1
    assert differ.stderr.rstrip().endswith(
        "mrsm: The two passwords differ; nothing was changed.")
    assert await _password_matches(database_url, "root", ROOT_PASSWORD)
    unknown = mrsm_tty(["edit", "user", "nobody"], [""])
    assert unknown.returncode == 1
    assert unknown.stderr == "mrsm: There is no user 'nobody'.\n"


async def test_over_http_an_admin_edits_a_user(cli, users, as_user, database_url):
    root = as_user("root", ROOT_PASSWORD)
    made = cli("edit", "user", "alice", "--type", "admin", "--json", "-i", "api:main", **root)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["type"] == "admin"
    changed = cli("edit", "user", "bob", "--password", NEW, "-i", "api:main", **root)
    assert changed.returncode == 0, changed.stderr
    assert await _password_matches(database_url, "bob", NEW)
    assert cli("show", "tokens", "-i", "api:main", **as_user("bob", NEW)).returncode == 0
    # Now two admins: root may become a user; alice, the last one, may not.
    assert cli("edit", "user", "root", "--type", "user", "-i", "api:main",
               **root).returncode == 0
    alice = as_user("alice")
    last = cli("edit", "user", "alice", "--type", "user", "-i", "api:main", **alice)
    assert last.error_line == "mrsm: This is the last admin; make another admin first."
    events = await user_events(database_url)
    assert [e["source"] is not None for e in events] == [True, True, True]  # over HTTP


def test_over_http_a_user_may_not_edit_users(cli, users, as_user, database_url):
    alice = as_user("alice")
    refused = cli("edit", "user", "bob", "--type", "admin", "-i", "api:main", **alice)
    assert refused.returncode == 1
    assert refused.error_line == ("mrsm: This credential lacks the scope this route needs: "
                                  "write:users.")
    prompted = cli("edit", "user", "alice", "-i", "api:main", **alice)
    assert prompted.error_line.startswith("mrsm: Nothing to change")
