"""`mrsm register user` and `mrsm delete user` on sql: leave the same audit events as the
HTTP API, with the database's operator as the actor; refusals leave none."""

from __future__ import annotations

import json

from service.config import PROJECT_ROOT
from tests.support.assertions import connect

# The console script imports whichever `service` the interpreter has installed, which
# need not be this checkout; PYTHONPATH makes the subprocess run the code under test.
THIS_TREE = {"PYTHONPATH": str(PROJECT_ROOT)}


async def user_events(database_url: str) -> list[dict]:
    async with connect(database_url) as conn:
        rows = await conn.fetch("SELECT * FROM audit_events WHERE kind LIKE 'user.%' "
                                "ORDER BY id")
    return [dict(r) for r in rows]


async def test_register_user_on_sql_is_audited_as_the_operator(mrsm, database_url):
    result = mrsm("register", "user", "carol", "--password-stdin", "--json",
                  stdin="carol-password-1\n", **THIS_TREE)
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    [event] = await user_events(database_url)
    assert event["kind"] == "user.created"
    assert (event["actor_kind"], event["actor_username"]) == ("operator", "(operator)")
    assert event["actor_user_id"] is None and event["actor_token_id"] is None
    assert event["source"] is None  # no client address outside a request
    assert event["target_username"] == "carol"
    assert str(event["target_user_id"]) == created["id"]
    assert json.loads(event["details"]) == {"type": "user", "scopes": created["scopes"]}
    assert "carol-password-1" not in event["details"] and "argon2" not in event["details"]


async def test_delete_user_on_sql_is_audited_as_the_operator(mrsm, cli, users, database_url):
    listed = json.loads(cli("show", "users", "--json").stdout)["items"]
    bob = next(u for u in listed if u["username"] == "bob")
    result = mrsm("delete", "user", "bob", "--yes", **THIS_TREE)
    assert result.returncode == 0, result.stderr
    [event] = await user_events(database_url)
    assert event["kind"] == "user.deleted"
    assert (event["actor_kind"], event["actor_username"]) == ("operator", "(operator)")
    assert event["source"] is None
    assert (event["target_username"], str(event["target_user_id"])) == ("bob", bob["id"])
    assert json.loads(event["details"]) == {"type": "user"}


async def test_refused_user_commands_on_sql_leave_no_event(cli, users, database_url):
    refusals = {
        ("register", "user", "alice", "--password", "another-password"):
            "mrsm: The username 'alice' is taken.",
        ("register", "user", "frank", "--password", "long-enough-1", "--scopes", "write:users"):
            "mrsm: Some scopes are for admins only.",
        ("delete", "user", "nobody", "--yes"): "mrsm: No such user.",
        ("delete", "user", "root", "--yes"):
            "mrsm: This is the last admin; make another admin first.",
    }
    for args, message in refusals.items():
        result = cli(*args)
        assert (result.returncode, result.error_line) == (1, message), args
    assert await user_events(database_url) == []
    names = [u["username"] for u in json.loads(cli("show", "users", "--json").stdout)["items"]]
    assert names == ["alice", "bob", "root"]


async def test_each_user_command_on_sql_leaves_one_event(cli, database_url):
    assert cli("register", "user", "dora", "--password", "dora-password-1",
               "--type", "admin").returncode == 0
    assert cli("register", "user", "ed", "--password", "ed-password-1").returncode == 0
    assert cli("delete", "user", "ed", "--yes").returncode == 0
    events = await user_events(database_url)
    assert [(e["kind"], e["target_username"]) for e in events] == [
        ("user.created", "dora"), ("user.created", "ed"), ("user.deleted", "ed")]
    assert {e["actor_kind"] for e in events} == {"operator"}
    assert json.loads(events[0]["details"])["type"] == "admin"
