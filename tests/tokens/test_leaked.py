"""Leaked-key reports: public, rate-limited, silent about which keys were real."""

from __future__ import annotations

import uuid

from service.app import create_app
from service.auth.apikeys import make_api_key, new_secret
from tests.support.api import Api
from tests.support.assertions import assert_error
from tests.support.throttling import from_ip


async def leak(api, body, headers=None):
    return await api.client.post("/tokens/leaked", json=body, headers=headers or {})


async def test_a_reported_key_is_invalidated_at_once(api, user_headers, admin_headers):
    token = await api.create_token(user_headers, label="pasted")
    other = await api.create_token(user_headers, label="kept")
    assert (await api.client.get("/users/me",
                                 headers={"Authorization": token["api_key"]})).status == 200
    resp = await leak(api, {"keys": [token["api_key"]],
                            "url": "https://example.com/gist/1"},
                      headers={"X-Forwarded-For": "203.0.113.5"})
    assert resp.status == 202 and await resp.json() == {"received": 1}
    # Its cached API key and its JWTs stop at once; the other token works.
    assert (await api.client.get("/users/me",
                                 headers={"Authorization": token["api_key"]})).status == 401
    assert (await api.client.get("/users/me",
                                 headers={"Authorization": other["api_key"]})).status == 200
    body = await (await api.client.get(f"/tokens/{token['id']}", headers=user_headers)).json()
    assert body["is_valid"] is False and body["invalidated_reason"] == "leaked"
    assert body["invalidated_at"] is not None
    kept = await (await api.client.get(f"/tokens/{other['id']}", headers=user_headers)).json()
    assert kept["invalidated_reason"] is None

    events = (await (await api.client.get("/audit?kind=token.leaked",
                                          headers=admin_headers)).json())["items"]
    assert len(events) == 1
    event = events[0]
    assert event["target_token_id"] == token["id"] and event["target_username"] == "alice"
    assert event["details"]["url"] == "https://example.com/gist/1"
    assert event["source"] == "127.0.0.1"  # the peer: no proxy is trusted here
    assert token["secret"] not in str(event)

    # Reported again: nothing more happens, the answer is the same.
    resp = await leak(api, {"keys": [token["api_key"]]})
    assert resp.status == 202 and await resp.json() == {"received": 1}
    again = await (await api.client.get("/audit?kind=token.leaked",
                                        headers=admin_headers)).json()
    assert len(again["items"]) == 1


async def test_the_answer_says_nothing_of_which_keys_were_real(api, user_headers, database_url):
    token = await api.create_token(user_headers)
    forged = make_api_key(token["id"], new_secret())  # well formed, wrong secret
    unknown = make_api_key(uuid.uuid4(), new_secret())
    junk = ["mrsm-key:not-base64!", "hello", "", token["api_key"][:-1] + "A", "x" * 1000]
    resp = await leak(api, {"keys": [forged, unknown, *junk]})
    assert resp.status == 202 and await resp.json() == {"received": 2 + len(junk)}
    body = await (await api.client.get(f"/tokens/{token['id']}", headers=user_headers)).json()
    assert body["is_valid"] is True and body["invalidated_reason"] is None


async def test_a_previous_secret_during_its_overlap_counts_as_leaked(api, user_headers):
    token = await api.create_token(user_headers)
    new = await (await api.client.post(f"/tokens/{token['id']}/rotate",
                                       headers=user_headers)).json()
    assert (await leak(api, {"keys": [token["api_key"]]})).status == 202
    for key in (token["api_key"], new["api_key"]):
        assert (await api.client.get("/users/me", headers={"Authorization": key})).status == 401


async def test_reasons_of_other_endings(api, admin_headers):
    await api.create_user("bob")
    bob = await api.bearer("bob")
    token = await api.create_token(bob)
    assert (await api.client.delete("/users/bob", headers=admin_headers)).status == 204
    body = await (await api.client.get(f"/tokens/{token['id']}", headers=admin_headers)).json()
    assert body["invalidated_reason"] == "owner deleted" and body["is_valid"] is False


async def test_bad_reports_are_422(api):
    for body, field in (({}, "keys"), ({"keys": []}, "keys"), ({"keys": "mrsm-key:x"}, "keys"),
                        ({"keys": ["k"] * 1001}, "keys"), ({"keys": [1]}, "keys"),
                        ({"keys": ["k"], "url": "x" * 2049}, "url"),
                        ({"keys": ["k"], "url": "a\u0000b"}, "url"),
                        ({"keys": ["k"], "extra": 1}, "extra")):
        err = await assert_error(await leak(api, body), 422)
        assert field in err["fields"], (body, err)
    assert (await leak(api, {"keys": ["k"] * 1000})).status == 202


async def test_reports_are_rate_limited_per_address(aiohttp_client, make_settings, limits):
    settings = make_settings(abuse=limits, leak_reports_per_hour=3)
    api = Api(await aiohttp_client(create_app(settings)), settings)
    for _ in range(3):
        assert (await leak(api, {"keys": ["k"]}, from_ip("198.51.100.1"))).status == 202
    resp = await leak(api, {"keys": ["k"]}, from_ip("198.51.100.1"))
    await assert_error(resp, 429, "too_many_requests")
    assert 3500 <= int(resp.headers["Retry-After"]) <= 3600
    # Bad bodies count too; another address is not affected.
    await assert_error(await leak(api, {}, from_ip("198.51.100.1")), 429)
    assert (await leak(api, {"keys": ["k"]}, from_ip("198.51.100.2"))).status == 202
