"""Public routes about the service: /scopes, /healthz, /readyz, /config."""

from __future__ import annotations

from service import keys
from service.app import create_app
from service.auth.scopes import ADMIN_ONLY_SCOPES, DEFAULT_USER_SCOPES, SCOPES

ISSUE_SCOPES = ["read:pipes", "write:pipes", "delete:pipes", "read:tokens", "write:tokens",
                "read:users", "write:users"]


async def test_scopes_lists_every_scope_with_a_description(client):
    resp = await client.get("/scopes")
    assert resp.status == 200 and resp.content_type == "application/json"
    body = await resp.json()
    assert set(body) == {"items"}
    assert [item["name"] for item in body["items"]] == list(SCOPES)
    assert [item["name"] for item in body["items"]][:7] == ISSUE_SCOPES
    for item in body["items"]:
        assert set(item) == {"name", "description", "admin_only"}
        assert item["admin_only"] is (item["name"] in ADMIN_ONLY_SCOPES)
        assert isinstance(item["description"], str) and item["description"]
    assert set(DEFAULT_USER_SCOPES) < set(SCOPES)


async def test_healthz_and_readyz(client):
    for path in ("/healthz", "/readyz"):
        resp = await client.get(path)
        assert resp.status == 200
        assert await resp.json() == {"status": "ok"}


async def test_readyz_is_503_when_the_database_does_not_answer(client):
    client.app[keys.POOL].terminate()  # every connection gone, as if PostgreSQL went away
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert await resp.json() == {"status": "unavailable"}
    assert (await client.get("/healthz")).status == 200  # alive, just not ready


async def test_config_without_a_limit(client, settings):
    body = await (await client.get("/config")).json()
    assert body["token_default_ttl_days"] == settings.token_default_ttl_days == 366
    assert body["token_max_ttl_days"] is None
    assert body["never_expires_allowed"] is True
    assert body["jwt_ttl_seconds"] == settings.jwt_ttl_seconds
    assert [s["name"] for s in body["scopes"]] == list(SCOPES)


async def test_config_with_a_limit(aiohttp_client, make_settings):
    client = await aiohttp_client(create_app(make_settings(token_max_ttl_days=30,
                                                           jwt_ttl_seconds=60)))
    body = await (await client.get("/config")).json()
    assert body["token_default_ttl_days"] == 30  # min(default, max)
    assert body["token_max_ttl_days"] == 30
    assert body["never_expires_allowed"] is False
    assert body["jwt_ttl_seconds"] == 60
