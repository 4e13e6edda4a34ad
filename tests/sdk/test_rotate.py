"""Token.rotate() and get_tokens(expires_before=...) on sql:main and api:main."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

import service as mrsm
from service import Token, User
from tests.support.servers import status_of


def _rotated_header(base_url: str, api_key: str) -> str | None:
    request = urllib.request.Request(base_url + "/users/me", headers={"Authorization": api_key})
    with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 (loopback)
        return resp.headers.get("Mrsm-Token-Rotated")


@pytest.mark.parametrize("instance", ["sql:main", "api:main"])
def test_rotate_with_and_without_overlap(instance, users, login_as, api_server):
    login_as("alice")
    token = Token(label="device", user=User("alice", instance=instance), instance=instance)
    assert token.register()[0]
    first_key = token.get_api_key()
    assert status_of(api_server.base_url, first_key) == 200

    success, msg = token.rotate(overlap=timedelta(hours=1))
    assert success, msg
    second_key = token.get_api_key()
    assert second_key != first_key
    assert msg.startswith("Rotated token") and token.secret not in msg
    assert token.previous_secret_expires_at is not None
    left = token.previous_secret_expires_at - datetime.now(UTC)
    assert timedelta(minutes=59) < left <= timedelta(hours=1)
    assert status_of(api_server.base_url, first_key) == 200
    assert _rotated_header(api_server.base_url, first_key) is not None
    assert _rotated_header(api_server.base_url, second_key) is None

    success, msg = token.rotate(overlap=timedelta(0))
    assert success, msg
    assert token.previous_secret_expires_at is None
    assert status_of(api_server.base_url, second_key) == 401
    assert status_of(api_server.base_url, token.get_api_key()) == 200
    fetched = mrsm.get_connector(instance).get_token(str(token.id))
    assert fetched.secret is None and fetched.previous_secret_expires_at is None


@pytest.mark.parametrize("instance", ["sql:main", "api:main"])
def test_rotate_refusals_are_messages(instance, users, login_as):
    login_as("alice")
    assert Token(label="x", instance=instance).rotate() == (
        False, "This token is not registered yet.")
    token = Token(label="y", user=User("alice", instance=instance), instance=instance)
    assert token.register()[0]
    success, msg = token.rotate(overlap=timedelta(days=31))
    assert not success and "overlap_seconds" in msg
    assert token.rotate(overlap=timedelta(seconds=0.5))[0] is False
    assert token.invalidate()[0]
    success, msg = token.rotate()
    assert not success and "invalidated" in msg


@pytest.mark.parametrize("instance", ["sql:main", "api:main"])
def test_tokens_expiring_soon(instance, users, login_as):
    login_as("alice")
    now = datetime.now(UTC)
    soon = Token(label="soon", user=User("alice", instance=instance), instance=instance,
                 expiration=now + timedelta(days=2))
    later = Token(label="later", user=User("alice", instance=instance), instance=instance,
                  expiration=now + timedelta(days=60))
    assert soon.register()[0] and later.register()[0]
    conn = mrsm.get_connector(instance)
    found = conn.get_tokens(expires_before=now + timedelta(days=7))
    assert [t.id for t in found] == [soon.id]
