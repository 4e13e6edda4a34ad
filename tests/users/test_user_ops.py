"""service.users.ops: the HTTP user routes audit each change in its own transaction, with
actor and source; refusals leave no event; the first admin is audited as the bootstrap."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from service.auth.passwords import PasswordHasher
from service.auth.principal import Principal
from service.bootstrap import ensure_admin
from service.config import Settings
from service.db import create_pool
from service.errors import ApiError
from service.tokens.ops import OPERATOR
from service.users import ops
from tests.support.api import ADMIN_PASSWORD, USER_PASSWORD
from tests.support.assertions import assert_error, connect

PASSWORD = "long-enough-1"


@asynccontextmanager
async def service_connection(settings: Settings) -> AsyncIterator:
    """A connection set up as the service's are (its JSON codecs, which the audit uses)."""
    pool = await create_pool(settings, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            yield conn
    finally:
        await pool.close()


async def user_events(database_url: str) -> list[dict]:
    async with connect(database_url) as conn:
        rows = await conn.fetch("SELECT *, host(source) AS address FROM audit_events "
                                "WHERE kind LIKE 'user.%' ORDER BY id")
    return [{**dict(r), "details": json.loads(r["details"])} for r in rows]


async def test_http_user_changes_are_audited_with_actor_and_source(api, admin_headers):
    resp = await api.client.post("/users", headers=admin_headers,
                                 json={"username": "bob", "password": PASSWORD})
    assert resp.status == 201, await resp.text()
    bob_id = (await resp.json())["id"]
    resp = await api.client.patch("/users/bob", headers=admin_headers, json={"type": "admin"})
    assert resp.status == 200, await resp.text()
    resp = await api.client.patch("/users/bob", headers=admin_headers, json={"type": "user"})
    assert resp.status == 200, await resp.text()
    bob = await api.bearer("bob", PASSWORD)
    resp = await api.client.patch("/users/me", headers=bob, json={
        "current_password": PASSWORD, "new_password": "long-enough-2"})
    assert resp.status == 200, await resp.text()
    assert (await api.client.delete("/users/bob", headers=admin_headers)).status == 204
    events = await user_events(api.settings.database_url)
    assert [(e["kind"], e["actor_username"], e["details"]) for e in events] == [
        ("user.created", "admin", {"type": "user", "scopes": events[0]["details"]["scopes"]}),
        ("user.changed", "admin", {"type": "admin"}),
        ("user.changed", "admin", {"type": "user"}),
        ("user.changed", "bob", {"password": "changed"}),
        ("user.deleted", "admin", {"type": "user"}),
    ]
    for event in events:
        assert event["address"] == "127.0.0.1"
        assert event["actor_kind"] == "jwt"
        assert (event["target_username"], str(event["target_user_id"])) == ("bob", bob_id)


async def test_http_user_refusals_change_nothing_and_leave_no_event(api, admin_headers,
                                                                    user_headers):
    def post(**body):
        return api.client.post("/users", headers=admin_headers, json=body)

    def patch(name, **body):
        return api.client.patch(f"/users/{name}", headers=admin_headers, json=body)

    await assert_error(await post(username="ALICE", password=PASSWORD), 409, "conflict")
    await assert_error(await post(username="frank", password=PASSWORD, scopes=["write:users"]),
                       422, "validation_error")
    await assert_error(await patch("alice", scopes=["write:users"]), 422, "validation_error")
    await assert_error(await patch("admin", type="user"), 409, "conflict")
    await assert_error(await patch("nobody", type="admin"), 404, "not_found")
    await assert_error(await api.client.delete("/users/admin", headers=admin_headers), 409)
    await assert_error(await api.client.delete("/users/nobody", headers=admin_headers), 404)
    await assert_error(await api.client.patch("/users/me", headers=user_headers, json={
        "current_password": "wrong-password", "new_password": PASSWORD}), 403, "forbidden")
    assert await user_events(api.settings.database_url) == []
    resp = await api.client.get("/users", headers=admin_headers)
    assert [(u["username"], u["type"]) for u in (await resp.json())["items"]] == [
        ("admin", "admin"), ("alice", "user")]
    await api.login("alice", USER_PASSWORD)
    await api.login("admin", ADMIN_PASSWORD)


async def test_a_change_and_its_event_roll_back_together(settings):
    hasher = PasswordHasher(settings)
    try:
        async with service_connection(settings) as conn:
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await ops.register(conn, hasher, OPERATOR, source=None, username="carol",
                                       password=PASSWORD)
                    raise RuntimeError("the caller gives up")
            assert await conn.fetchval("SELECT count(*) FROM users") == 0
    finally:
        hasher.close()
    assert await user_events(settings.database_url) == []


async def test_own_password_of_a_user_deleted_meanwhile_is_404_without_event(settings):
    ghost = Principal(user_id=uuid.uuid4(), username="ghost", user_type="user",
                      scopes=frozenset(), kind="jwt")
    async with service_connection(settings) as conn, conn.transaction():
        with pytest.raises(ApiError) as refused:
            await ops.set_own_password(conn, ghost, "not-a-real-hash", source="192.0.2.1")
    assert (refused.value.status, refused.value.description) == (404, "No such user.")
    assert await user_events(settings.database_url) == []


async def test_the_generated_first_admin_is_audited_as_the_bootstrap(settings):
    hasher = PasswordHasher(settings)
    try:
        async with service_connection(settings) as conn:
            username, _password = await ensure_admin(conn, settings, hasher)
            assert await ensure_admin(conn, settings, hasher) is None  # users exist now
    finally:
        hasher.close()
    [event] = await user_events(settings.database_url)
    assert (event["kind"], event["target_username"]) == ("user.created", username)
    assert (event["actor_kind"], event["actor_username"], event["address"]) == (
        "operator", "(operator)", None)
    assert event["details"] == {"type": "admin", "scopes": event["details"]["scopes"],
                                "bootstrap": "generated password"}


async def test_admin_username_is_audited_once_as_the_bootstrap(make_settings):
    settings = make_settings(admin_username="root", admin_password=PASSWORD)
    hasher = PasswordHasher(settings)
    try:
        async with service_connection(settings) as conn:
            assert await ensure_admin(conn, settings, hasher) is None
            assert await ensure_admin(conn, settings, hasher) is None  # root exists: kept
            row = await conn.fetchrow("SELECT id, type FROM users WHERE username = 'root'")
    finally:
        hasher.close()
    [event] = await user_events(settings.database_url)
    assert (event["kind"], event["target_user_id"], row["type"]) == (
        "user.created", row["id"], "admin")
    assert event["actor_kind"] == "operator"
    assert event["details"]["bootstrap"] == "ADMIN_USERNAME"


def test_stored_scopes_refuses_admin_only_scopes_on_a_user_only():
    assert ops.stored_scopes("admin", ["write:users", "read:pipes", "read:pipes"]) == [
        "read:pipes", "write:users"]
    with pytest.raises(ApiError) as refused:
        ops.stored_scopes("user", ["read:pipes", "write:users"])
    assert refused.value.status == 422
    assert refused.value.fields == {"scopes": ["for admins only: write:users"]}
