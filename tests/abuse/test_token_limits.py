"""Per-token limits: `rate_limit` (requests per minute) and `allowed_cidrs`."""

from __future__ import annotations

import pytest

from tests.support.assertions import assert_error, bearer
from tests.support.throttling import from_ip


async def test_limits_are_null_by_default_and_shown_everywhere(tapi, tadmin):
    token = await tapi.create_token(tadmin, label="plain")
    assert token["rate_limit"] is None and token["allowed_cidrs"] is None
    token = await tapi.create_token(tadmin, label="limited", rate_limit=120,
                                    allowed_cidrs=["10.0.0.0/8", "2001:db8::/32"])
    assert token["rate_limit"] == 120
    assert token["allowed_cidrs"] == ["10.0.0.0/8", "2001:db8::/32"]
    resp = await tapi.client.get(f"/tokens/{token['id']}", headers=tadmin)
    body = await resp.json()
    assert body["rate_limit"] == 120 and body["allowed_cidrs"] == ["10.0.0.0/8", "2001:db8::/32"]
    listed = await (await tapi.client.get("/tokens", headers=tadmin)).json()
    by_label = {t["label"]: t for t in listed["items"]}
    assert by_label["limited"]["rate_limit"] == 120
    assert by_label["plain"]["allowed_cidrs"] is None


async def test_edit_sets_changes_and_clears_limits(tapi, tadmin):
    token = await tapi.create_token(tadmin, label="t")
    url = f"/tokens/{token['id']}"
    resp = await tapi.client.patch(url, headers=tadmin,
                                   json={"rate_limit": 5, "allowed_cidrs": ["192.0.2.0/24"]})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["rate_limit"] == 5 and body["allowed_cidrs"] == ["192.0.2.0/24"]
    resp = await tapi.client.patch(url, headers=tadmin, json={"label": "renamed"})
    assert (await resp.json())["rate_limit"] == 5  # untouched when not sent
    resp = await tapi.client.patch(url, headers=tadmin,
                                   json={"rate_limit": None, "allowed_cidrs": None})
    body = await resp.json()
    assert body["rate_limit"] is None and body["allowed_cidrs"] is None


@pytest.mark.parametrize("body", [
    {"rate_limit": 0},
    {"rate_limit": -1},
    {"rate_limit": 1.5},
    {"rate_limit": "10"},
    {"rate_limit": True},
    {"rate_limit": 10**7},
    {"allowed_cidrs": []},
    {"allowed_cidrs": "10.0.0.0/8"},
    {"allowed_cidrs": ["10.0.0.1/8"]},
    {"allowed_cidrs": ["not a network"]},
    {"allowed_cidrs": ["10.0.0.0/33"]},
    {"allowed_cidrs": [None]},
    {"allowed_cidrs": [f"10.{i}.0.0/16" for i in range(65)]},
])
async def test_bad_limits_are_422_on_create_and_edit(tapi, tadmin, body):
    resp = await tapi.client.post("/tokens", headers=tadmin, json=body)
    err = await assert_error(resp, 422, "validation_error")
    assert set(err["fields"]) == set(body)
    token = await tapi.create_token(tadmin, label="t")
    resp = await tapi.client.patch(f"/tokens/{token['id']}", headers=tadmin, json=body)
    await assert_error(resp, 422, "validation_error")


async def test_duplicate_networks_are_stored_once(tapi, tadmin):
    token = await tapi.create_token(tadmin, allowed_cidrs=["10.0.0.0/8", " 10.0.0.0/8 "])
    assert token["allowed_cidrs"] == ["10.0.0.0/8"]


async def test_rate_limit_429_with_retry_after_for_key_and_its_jwts(tapi, tadmin):
    token = await tapi.create_token(tadmin, label="slow", rate_limit=3)
    other = await tapi.create_token(tadmin, label="fast")
    key = {"Authorization": token["api_key"]}
    for _ in range(2):
        assert (await tapi.client.get("/users/me", headers=key)).status == 200
    access = await tapi.client_credentials(token)  # the third request of the minute
    resp = await tapi.client.get("/users/me", headers=key)
    await assert_error(resp, 429, "too_many_requests")
    assert 1 <= int(resp.headers["Retry-After"]) <= 20  # one request every 20 s at 3/min
    resp = await tapi.client.get("/users/me", headers=bearer(access))
    await assert_error(resp, 429, "too_many_requests")
    resp = await tapi.client.post("/login", data={"grant_type": "client_credentials",
                                                  "client_id": token["id"],
                                                  "client_secret": token["secret"]})
    await assert_error(resp, 429, "too_many_requests")
    # Another token is not affected.
    resp = await tapi.client.get("/users/me", headers={"Authorization": other["api_key"]})
    assert resp.status == 200


async def test_rate_limit_edit_takes_effect(tapi, tadmin):
    token = await tapi.create_token(tadmin, label="t", rate_limit=1)
    key = {"Authorization": token["api_key"]}
    assert (await tapi.client.get("/users/me", headers=key)).status == 200
    assert (await tapi.client.get("/users/me", headers=key)).status == 429
    resp = await tapi.client.patch(f"/tokens/{token['id']}", headers=tadmin,
                                   json={"rate_limit": None})
    assert resp.status == 200
    assert (await tapi.client.get("/users/me", headers=key)).status == 200


async def test_allowed_cidrs_inside_and_outside(tapi, tadmin):
    token = await tapi.create_token(tadmin, label="lan",
                                    allowed_cidrs=["10.0.0.0/8", "2001:db8::/32"])
    key = {"Authorization": token["api_key"]}
    for inside in ("10.1.2.3", "2001:db8::7", "::ffff:10.1.2.4"):  # mapped = IPv4
        resp = await tapi.client.get("/users/me", headers=from_ip(inside, key))
        assert resp.status == 200, inside
    # Outside: refused exactly like a wrong key (401), so a thief learns nothing.
    for outside in ("192.0.2.1", "11.0.0.1", "2001:db9::1"):
        resp = await tapi.client.get("/users/me", headers=from_ip(outside, key))
        await assert_error(resp, 401, "invalid_token")
    # No proxy header: the socket's own 127.0.0.1 is outside.
    resp = await tapi.client.get("/users/me", headers=key)
    await assert_error(resp, 401, "invalid_token")


async def test_allowed_cidrs_apply_to_the_token_jwts_and_client_credentials(tapi, tadmin):
    token = await tapi.create_token(tadmin, label="lan", allowed_cidrs=["10.0.0.0/8"])
    form = {"grant_type": "client_credentials", "client_id": token["id"],
            "client_secret": token["secret"]}
    resp = await tapi.client.post("/login", headers=from_ip("192.0.2.1"), data=form)
    await assert_error(resp, 401, "invalid_client")
    resp = await tapi.client.post("/login", headers=from_ip("10.0.0.9"), data=form)
    assert resp.status == 200
    access = (await resp.json())["access_token"]
    resp = await tapi.client.get("/users/me", headers=from_ip("192.0.2.1", bearer(access)))
    await assert_error(resp, 401, "invalid_token")
    resp = await tapi.client.get("/users/me", headers=from_ip("10.0.0.9", bearer(access)))
    assert resp.status == 200


async def test_narrowing_networks_on_edit_takes_effect_at_once(tapi, tadmin):
    token = await tapi.create_token(tadmin, label="t")
    key = {"Authorization": token["api_key"]}
    assert (await tapi.client.get("/users/me", headers=from_ip("192.0.2.1", key))).status == 200
    resp = await tapi.client.patch(f"/tokens/{token['id']}", headers=tadmin,
                                   json={"allowed_cidrs": ["10.0.0.0/8"]})
    assert resp.status == 200
    resp = await tapi.client.get("/users/me", headers=from_ip("192.0.2.1", key))
    await assert_error(resp, 401, "invalid_token")


async def test_use_from_outside_counts_toward_throttling(tapi, tadmin, limits):
    token = await tapi.create_token(tadmin, label="lan", allowed_cidrs=["10.0.0.0/8"])
    key = {"Authorization": token["api_key"]}
    for _ in range(limits.pair_failures):
        resp = await tapi.client.get("/users/me", headers=from_ip("192.0.2.1", key))
        await assert_error(resp, 401, "invalid_token")
    resp = await tapi.client.get("/users/me", headers=from_ip("192.0.2.1", key))
    await assert_error(resp, 429, "too_many_requests")
