"""The seed's Python API, `import service as mrsm`, on sql:main and api:main."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

import service as mrsm
from service import Token, User
from service.auth.apikeys import make_api_key
from service.auth.scopes import DEFAULT_USER_SCOPES
from tests.support.cli import ROOT_PASSWORD
from tests.support.servers import free_port, status_of


def _stored(database_url: str, token_id) -> dict | None:
    async def fetch():
        conn = await asyncpg.connect(database_url)
        try:
            row = await conn.fetchrow(
                "SELECT t.label, u.username, t.scopes, t.expiration, t.invalidated_at "
                "FROM tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.id = $1", token_id)
        finally:
            await conn.close()
        return dict(row) if row else None
    return asyncio.run(fetch())




@pytest.mark.parametrize("instance", ["sql:main", "api:main"])
def test_the_seed_walkthrough(instance, users, login_as, api_server, database_url):
    login_as("alice")
    # Creating a token.
    user = User("alice", instance=instance)
    token = Token(label="my-iot-device", user=user, instance=instance)
    success, msg = token.register()
    assert success, msg
    assert msg == f"Registered token 'my-iot-device' ({token.id})."
    assert token.get_api_key() == make_api_key(token.id, token.secret)
    assert token.get_api_key().startswith("mrsm-key:")
    assert status_of(api_server.base_url, token.get_api_key()) == 200
    stored = _stored(database_url, token.id)
    assert (stored["label"], stored["username"]) == ("my-iot-device", "alice")
    assert stored["scopes"] == list(DEFAULT_USER_SCOPES)
    # Fetching tokens.
    conn = mrsm.get_connector(instance)
    tokens = conn.get_tokens(user=mrsm.User("alice", instance=conn))
    assert [t.id for t in tokens] == [token.id]
    fetched = tokens[0]
    assert fetched.secret is None and fetched.is_valid is True
    # Editing a token.
    before = fetched.expiration
    fetched.expiration += timedelta(days=30)
    fetched.scopes = ["read:pipes", "write:pipes"]
    success, msg = fetched.edit()
    assert success, msg
    stored = _stored(database_url, token.id)
    assert stored["expiration"] == before + timedelta(days=30)
    assert stored["scopes"] == ["read:pipes", "write:pipes"]
    assert fetched.scopes == ["read:pipes", "write:pipes"]
    # Invalidating and deleting.
    success, msg = fetched.invalidate()
    assert success, msg
    assert fetched.is_valid is False
    assert _stored(database_url, token.id)["invalidated_at"] is not None
    assert status_of(api_server.base_url, token.get_api_key()) == 401
    assert conn.get_tokens(user=user)[0].is_valid is False  # invalidated, still listed
    success, msg = fetched.delete()
    assert success, msg
    assert _stored(database_url, token.id) is None
    assert conn.get_tokens(user=user) == []


def test_an_expiration_of_none_never_expires(users, database_url):
    token = Token(label="forever", user=User("alice"), expiration=None)
    assert token.register()[0]
    assert token.expiration is None
    assert _stored(database_url, token.id)["expiration"] is None
    token.expiration = datetime.now(UTC) + timedelta(days=30)
    assert token.edit()[0]
    assert token.expiration is not None
    token.expiration = None
    assert token.edit()[0]
    assert _stored(database_url, token.id)["expiration"] is None


def test_expiration_is_an_aware_datetime(users):
    token = Token(label="t", user="alice", expiration=datetime(2099, 1, 31, 12, 0))
    assert token.expiration == datetime(2099, 1, 31, 12, 0, tzinfo=UTC)  # naive means UTC
    assert token.register()[0]
    assert token.expiration.tzinfo is not None
    with pytest.raises(TypeError, match="expiration must be a datetime or None"):
        token.expiration = 30


def test_get_tokens_without_a_user(users, login_as):
    for owner, label in [("alice", "a"), ("bob", "b"), ("bob", "orphan")]:
        assert Token(label=label, user=owner).register()[0]
    assert User("bob").delete() == (True, "Deleted user 'bob'.")
    # sql: is the database's operator: every token, ownerless ones included.
    everything = {(t.label, str(t.user) if t.user else None)
                  for t in mrsm.get_connector("sql:main").get_tokens()}
    assert everything == {("a", "alice"), ("b", None), ("orphan", None)}
    login_as("root", ROOT_PASSWORD)
    assert {(t.label, str(t.user) if t.user else None)
            for t in mrsm.get_connector("api:main").get_tokens()} == everything
    login_as("alice")
    api = mrsm.get_connector("api:main")
    assert [t.label for t in api.get_tokens()] == ["a"]
    with pytest.raises(mrsm.InstanceError, match="Only an admin may list another user's"):
        api.get_tokens(user="root")


def test_printing_a_token_never_shows_its_secret(users):
    token = Token(label="printed", user="alice", scopes=["read:pipes"])
    assert "not registered" in str(token)
    assert token.register()[0]
    for text in (str(token), repr(token), str(token.to_dict())):
        assert token.secret not in text
        assert token.get_api_key() not in text
    assert str(token).startswith(f"Token 'printed' ({token.id}), user alice, "
                                 "scopes: read:pipes; expires ")
    assert str(token).endswith("; valid")


def test_ordinary_failures_are_returned_not_raised(users, login_as):
    token = Token(label="once", user="alice")
    assert token.register()[0]
    assert token.register() == (False, f"Token 'once' is already registered ({token.id}).")
    assert Token(label="once", user="alice").register() == \
        (False, "alice already has a token labelled 'once'.")
    assert Token(label="x", user="nobody").register() == (False, "There is no user 'nobody'.")
    assert Token(label="x", user="alice", scopes=["read:users"]).register() == \
        (False, "The token's owner does not hold: read:users.")
    assert Token(label="x", user="alice", scopes=["nope"]).register() == \
        (False, "The request is not valid: scopes: unknown scope(s): nope")
    assert Token(label="x", user="alice").edit() == \
        (False, "This token is not registered yet: call register() first.")
    assert token.edit() == (True, "Token 'once' is unchanged.")
    token.expiration = datetime(2001, 1, 1, tzinfo=UTC)
    assert token.edit() == (False, "The expiration is not allowed: must be in the future.")
    assert token.delete()[0]
    assert token.delete() == (False, "No such token.")
    assert token.invalidate() == (False, "No such token.")
    with pytest.raises(ValueError, match="only available right after register"):
        Token(label="x", user="alice").get_api_key()
    # An instance that does not answer is a failure too, not an exception.
    unreachable = mrsm.get_connector("api:main", url=f"http://127.0.0.1:{free_port()}",
                                     username="alice", password="user-password-1")
    ok, msg = Token(label="x", instance=unreachable).register()
    assert not ok and msg.startswith("Cannot reach http://127.0.0.1:")


def test_users_register_and_delete(users, login_as):
    assert User("carol", password="carol-password-1").register() == \
        (True, "Registered user 'carol'.")
    assert User("carol", password="carol-password-1").register() == \
        (False, "The username 'carol' is taken.")
    assert User("dave").register() == (False, "Give user 'dave' a password before registering it.")
    assert [u.username for u in mrsm.get_connector().get_users()] == \
        ["alice", "bob", "carol", "root"]
    login_as("alice")
    assert User("erin", password="erin-password-1", instance="api:main").register() == \
        (False, "This credential lacks the scope this route needs: write:users.")
    login_as("root", ROOT_PASSWORD)
    assert User("carol", instance="api:main").delete() == (True, "Deleted user 'carol'.")
    assert "password" not in repr(User("x", password="secret-password"))


def test_connectors():
    assert mrsm.get_connector() is mrsm.get_connector("sql") is mrsm.get_connector("sql:main")
    assert str(mrsm.get_connector("api")) == "api:main"
    with pytest.raises(ValueError, match="Unknown instance 'mongo:main'"):
        mrsm.get_connector("mongo:main")
    secret = mrsm.get_connector("api:x", url="http://h", password="pw-in-repr?")
    assert "pw-in-repr" not in repr(secret)


async def test_the_async_variant_and_the_sync_api_inside_a_loop(users):
    conn = mrsm.get_connector("sql:main")
    created = await conn.acreate_token({"user": "alice", "label": "async"})
    assert created["label"] == "async" and "secret" in created
    assert [t["label"] for t in await conn.alist_tokens("alice")] == ["async"]
    # The synchronous API still works when a loop is already running in this thread,
    # and its connections can be closed from there.
    assert [t.label for t in conn.get_tokens(user="alice")] == ["async"]
    mrsm.clear_connectors()
    assert [t.label for t in mrsm.get_connector().get_tokens()] == ["async"]


def test_scopes_may_be_given_as_the_cli_takes_them(users):
    token = Token(label="s", user="alice", scopes="read:pipes, write:pipes")
    assert token.scopes == ["read:pipes", "write:pipes"]
    assert token.register()[0]
    token.scopes = "read:pipes"
    assert token.edit()[0]
    assert mrsm.get_connector().get_token(token.id).scopes == ["read:pipes"]


def test_import_service_as_mrsm_exposes_the_seed_names():
    assert {"Token", "User", "get_connector", "clear_connectors", "InstanceError"} <= \
        set(dir(mrsm))
    assert mrsm.Token is Token and mrsm.User is User
    with pytest.raises(AttributeError):
        mrsm.core  # noqa: B018 - the seed's `mrsm.core.User` is `mrsm.User` here
