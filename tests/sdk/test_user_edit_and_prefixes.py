"""`User.edit()` and `aedit_user`, and tokens named by an ID prefix, on sql:main and api:main."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

import service as mrsm
from service import InstanceError, Token, User
from service.auth.passwords import PasswordHasher
from tests.support.cli import PASSWORD, ROOT_PASSWORD, cheap_settings

NEW = "a-new-password-1"  # noqa: S105 (a test fixture)


def _stored(database_url: str, username: str) -> dict:
    async def fetch():
        conn = await asyncpg.connect(database_url)
        try:
            row = await conn.fetchrow("SELECT type, scopes, password_hash FROM users "
                                      "WHERE username = $1", username)
        finally:
            await conn.close()
        hasher = PasswordHasher(cheap_settings(database_url))
        try:
            matches = {p: await hasher.verify(row["password_hash"], p)
                       for p in (PASSWORD, ROOT_PASSWORD, NEW)}
        finally:
            hasher.close()
        return {"type": row["type"], "scopes": sorted(row["scopes"]),
                "password": next((p for p, ok in matches.items() if ok), None)}
    return asyncio.run(fetch())


def _events(database_url: str) -> int:
    async def count():
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetchval("SELECT count(*) FROM audit_events "
                                       "WHERE kind = 'user.changed'")
        finally:
            await conn.close()
    return asyncio.run(count())


@pytest.mark.parametrize("instance", ["sql:main", "api:main"])
def test_user_edit_sends_only_what_changed(instance, users, login_as, database_url):
    login_as("root", ROOT_PASSWORD)
    [alice] = [u for u in mrsm.get_connector(instance).get_users() if u.username == "alice"]
    assert alice.edit() == (True, "User 'alice' is unchanged.")
    alice.type = "admin"
    assert alice.edit() == (True, "Edited user 'alice'.")
    assert alice.type == "admin" and "write:users" in alice.scopes  # the instance's answer
    assert _stored(database_url, "alice")["type"] == "admin"
    alice.password = NEW
    assert alice.edit() == (True, "Edited user 'alice'.")
    assert _stored(database_url, "alice")["password"] == NEW
    events = _events(database_url)
    assert alice.edit() == (True, "User 'alice' is unchanged.")  # the password is not resent
    assert _events(database_url) == events == 2
    alice.type, alice.scopes = "user", ["read:pipes"]
    assert alice.edit()[0]
    assert _stored(database_url, "alice") == {"type": "user", "scopes": ["read:pipes"],
                                              "password": NEW}


def test_a_user_made_by_name_sends_what_it_was_given(users, database_url):
    assert User("bob", type="admin").edit() == (True, "Edited user 'bob'.")
    assert _stored(database_url, "bob")["type"] == "admin"
    assert User("root", password=NEW).edit() == (True, "Edited user 'root'.")
    assert _stored(database_url, "root")["password"] == NEW
    registered = User("carol", password="carol-password-1")
    assert registered.register()[0]
    assert registered.edit() == (True, "User 'carol' is unchanged.")  # just sent


def test_user_edit_refusals_are_returned_not_raised(users, login_as, database_url):
    assert User("root", type="user").edit() == \
        (False, "This is the last admin; make another admin first.")
    assert User("alice", scopes=["read:users"]).edit() == \
        (False, "Some scopes are for admins only.")
    assert User("nobody", type="admin").edit() == (False, "No such user.")
    assert User("alice", password="short").edit() == \
        (False, "The request is not valid: password: Length must be between 8 and 1024.")
    login_as("alice")
    assert User("bob", type="admin", instance="api:main").edit() == \
        (False, "This credential lacks the scope this route needs: write:users.")
    assert _stored(database_url, "root")["type"] == "admin"
    assert _stored(database_url, "bob")["type"] == "user"
    assert _events(database_url) == 0


async def test_aedit_user_is_the_async_variant(users, database_url):
    conn = mrsm.get_connector("sql:main")
    out = await conn.aedit_user("bob", {"scopes": ["read:pipes"]})
    assert (out["username"], out["scopes"]) == ("bob", ["read:pipes"])
    with pytest.raises(InstanceError, match="No such user.") as info:
        await conn.aedit_user("nobody", {"type": "admin"})
    assert (info.value.status, info.value.code) == (404, "not_found")


@pytest.mark.parametrize("instance", ["sql:main", "api:main"])
def test_get_token_takes_a_unique_prefix(instance, users, login_as):
    login_as("alice")
    token = Token(label="device", user="alice", instance=instance)
    assert token.register()[0]
    conn = mrsm.get_connector(instance)
    assert conn.get_token(str(token.id)[:8]).label == "device"
    assert conn.get_token(str(token.id).replace("-", "")[:20].upper()).id == token.id
    assert conn.get_token(token.id).id == token.id
    with pytest.raises(InstanceError, match="needs 8 characters at least"):
        conn.get_token(str(token.id)[:7])
    other = "0" * 8 if not str(token.id).startswith("0") else "f" * 8
    with pytest.raises(InstanceError, match=f"No token ID starts with '{other}'") as info:
        conn.get_token(other)
    assert info.value.status == 404
