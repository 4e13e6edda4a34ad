"""Expiry notices on every answer, listing tokens that expire soon, and recent sources."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from service import keys
from service.app import create_app
from service.config import AbuseSettings
from tests.support.api import Api
from tests.support.assertions import assert_error, parse_time

EXPIRES = "Mrsm-Token-Expires"


def iso(value: datetime) -> str:
    return quote(value.isoformat())


async def test_every_answer_to_a_token_carries_its_expiration(api, user_headers):
    token = await api.create_token(user_headers)
    jwt = await api.client_credentials(token)
    for credential in (token["api_key"], f"Bearer {jwt}"):
        headers = {"Authorization": credential}
        for path, status in (("/users/me", 200), ("/tokens", 200),
                             (f"/tokens/{uuid.uuid4()}", 404)):  # no such token
            resp = await api.client.get(path, headers=headers)
            assert resp.status == status
            assert resp.headers[EXPIRES] == token["expiration"]
            assert parse_time(resp.headers[EXPIRES]) > datetime.now(UTC)
    # A password session and a token that never expires send none.
    assert EXPIRES not in (await api.client.get("/users/me", headers=user_headers)).headers
    forever = await api.create_token(user_headers, expiration=None)
    resp = await api.client.get("/users/me", headers={"Authorization": forever["api_key"]})
    assert resp.status == 200 and EXPIRES not in resp.headers
    # A change of expiration is seen on the next answer.
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    edited = await (await api.client.patch(f"/tokens/{token['id']}", headers=user_headers,
                                           json={"expiration": later})).json()
    resp = await api.client.get("/users/me", headers={"Authorization": token["api_key"]})
    assert resp.headers[EXPIRES] == edited["expiration"]


async def test_expires_before_lists_only_valid_tokens_expiring_soon(api, user_headers):
    now = datetime.now(UTC)
    soon = await api.create_token(user_headers, label="soon",
                                  expiration=(now + timedelta(days=2)).isoformat())
    sooner = await api.create_token(user_headers, label="sooner",
                                    expiration=(now + timedelta(hours=5)).isoformat())
    await api.create_token(user_headers, label="later",
                           expiration=(now + timedelta(days=30)).isoformat())
    await api.create_token(user_headers, label="never", expiration=None)
    gone = await api.create_token(user_headers, label="gone",
                                  expiration=(now + timedelta(days=1)).isoformat())
    await api.client.post(f"/tokens/{gone['id']}/invalidate", headers=user_headers)

    week = iso(now + timedelta(days=7))
    body = await (await api.client.get(f"/tokens?expires_before={week}",
                                       headers=user_headers)).json()
    assert [t["label"] for t in body["items"]] == ["sooner", "soon"]  # newest first
    assert body["total"] == 2
    paged = await (await api.client.get(f"/tokens?expires_before={week}&limit=1&offset=1",
                                        headers=user_headers)).json()
    assert [t["id"] for t in paged["items"]] == [soon["id"]] and paged["total"] == 2
    day = await (await api.client.get(f"/tokens?expires_before={iso(now + timedelta(days=1))}",
                                      headers=user_headers)).json()
    assert [t["id"] for t in day["items"]] == [sooner["id"]]
    for bad in ("tomorrow", "2026-13-01", ""):
        err = await assert_error(await api.client.get(f"/tokens?expires_before={bad}",
                                                      headers=user_headers), 422)
        assert "expires_before" in err["fields"]


async def _recent(client, headers, token_id):
    await client.app[keys.AUTHN].tracker.flush()
    body = await (await client.get(f"/tokens/{token_id}", headers=headers)).json()
    return body["recent_sources"]


async def test_recent_sources_by_the_trusted_proxy_rule(aiohttp_client, make_settings):
    abuse = AbuseSettings(throttle_enabled=False, trusted_proxy_header="X-Forwarded-For",
                          trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))
    settings = make_settings(abuse=abuse)
    client = await aiohttp_client(create_app(settings))
    api = Api(client, settings)
    admin = await api.admin_headers()
    token = await api.create_token(admin)
    assert token["recent_sources"] == []

    async def use(address: str) -> None:
        resp = await client.get("/users/me", headers={"Authorization": token["api_key"],
                                                      "X-Forwarded-For": address})
        assert resp.status == 200

    for address in ("203.0.113.1", "203.0.113.2", "203.0.113.1"):
        await use(address)  # many requests, no write until the flush
    first = await _recent(client, admin, token["id"])
    assert [s["address"] for s in first] == ["203.0.113.1", "203.0.113.2"]
    for source in first:
        assert parse_time(source["last_seen_at"]) <= datetime.now(UTC)

    # Merged with what is stored; at most five, newest first; the token's logins (here
    # straight from the proxy) and its JWTs count too.
    for n in range(3, 8):
        await use(f"198.51.100.{n}")
    jwt = await api.client_credentials(token)
    resp = await client.get("/users/me", headers={"Authorization": f"Bearer {jwt}",
                                                  "X-Forwarded-For": "2001:db8::1"})
    assert resp.status == 200
    recent = await _recent(client, admin, token["id"])
    assert [s["address"] for s in recent] == [
        "2001:db8::1", "127.0.0.1", "198.51.100.7", "198.51.100.6", "198.51.100.5"]
    times = [parse_time(s["last_seen_at"]) for s in recent]
    assert times == sorted(times, reverse=True)
    listed = await (await client.get("/tokens", headers=admin)).json()
    assert listed["items"][0]["recent_sources"] == recent


async def test_track_sources_off_records_none(aiohttp_client, make_settings):
    settings = make_settings(track_sources=False)
    client = await aiohttp_client(create_app(settings))
    api = Api(client, settings)
    admin = await api.admin_headers()
    token = await api.create_token(admin)
    resp = await client.get("/users/me", headers={"Authorization": token["api_key"]})
    assert resp.status == 200
    await client.app[keys.AUTHN].tracker.flush()
    body = await (await client.get(f"/tokens/{token['id']}", headers=admin)).json()
    assert body["recent_sources"] == [] and body["last_used_at"] is not None


async def test_the_peer_is_recorded_without_a_trusted_proxy(api, user_headers):
    token = await api.create_token(user_headers)
    resp = await api.client.get("/users/me", headers={"Authorization": token["api_key"],
                                                      "X-Forwarded-For": "203.0.113.9"})
    assert resp.status == 200
    recent = await _recent(api.client, user_headers, token["id"])
    assert [s["address"] for s in recent] == ["127.0.0.1"]
