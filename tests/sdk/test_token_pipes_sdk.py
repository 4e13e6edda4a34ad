"""`Token(pipes=[...])` and `token.pipes = [...]; token.edit()`, on sql:main and api:main."""

from __future__ import annotations

import pytest

import service as mrsm
from service import Token, User
from tests.support.servers import status_of


@pytest.mark.parametrize("instance", ["sql:main", "api:main"])
def test_pipes_set_read_and_edited(instance, users, login_as, api_server):
    login_as("alice")
    token = Token(label="device", user=User("alice", instance=instance), instance=instance,
                  pipes=["mqtt:garden/*/*", "dev:1/temperature/-"])
    assert token.pipes == ["mqtt:garden/*/*", "dev:1/temperature/-"]
    success, msg = token.register()
    assert success, msg
    assert token.pipes == ["mqtt:garden/*/*", "dev:1/temperature/-"]
    assert "pipes: mqtt:garden/*/*, dev:1/temperature/-" in str(token)
    assert "pipes=['mqtt:garden/*/*', 'dev:1/temperature/-']" in repr(token)
    assert token.to_dict()["pipes"] == token.pipes
    assert status_of(api_server.base_url, token.get_api_key()) == 200
    conn = mrsm.get_connector(instance)
    [fetched] = conn.get_tokens(user=User("alice", instance=conn))
    assert fetched.pipes == token.pipes
    fetched.pipes = ["mqtt:garden/temperature/greenhouse.1"]
    assert fetched.edit() == (True, f"Edited token 'device' ({fetched.id}).")
    assert fetched.pipes == ["mqtt:garden/temperature/greenhouse.1"]
    assert fetched.edit() == (True, "Token 'device' is unchanged.")
    fetched.pipes = None  # every pipe
    assert fetched.edit()[0]
    [again] = conn.get_tokens(user=User("alice", instance=conn))
    assert again.pipes is None and "; pipes:" not in str(again) and "pipes=None" in repr(again)


@pytest.mark.parametrize("instance", ["sql:main", "api:main"])
def test_a_malformed_pattern_is_a_failed_result_not_an_exception(instance, users, login_as):
    login_as("alice")
    token = Token(label="bad", user=User("alice", instance=instance), instance=instance,
                  pipes=["mqtt:garden"])
    success, msg = token.register()
    assert not success and "pipes" in msg.lower(), msg
    ok = Token(label="ok", user=User("alice", instance=instance), instance=instance)
    assert ok.register()[0] and ok.pipes is None
    ok.pipes = "a/b/-, c/*/*"  # a string, as the CLI takes it
    assert ok.edit()[0] and ok.pipes == ["a/b/-", "c/*/*"]
    ok.pipes = []
    success, msg = ok.edit()
    assert not success and "pipes" in msg.lower(), msg
