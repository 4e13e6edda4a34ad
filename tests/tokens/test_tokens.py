"""Registering tokens: the response, the secret and its storage, label, expiration, scopes."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from service.app import create_app
from service.auth.apikeys import make_api_key, parse_api_key, secret_well_formed
from service.auth.scopes import DEFAULT_USER_SCOPES
from tests.support.api import Api
from tests.support.assertions import (
    assert_error,
    assert_token_shape,
    bearer,
    connect,
    parse_time,
)


async def post(api, headers, **body):
    return await api.client.post("/tokens", json=body, headers=headers)


async def test_created_shape_secret_and_api_key(api, user_headers):
    resp = await post(api, user_headers, label="device")
    assert resp.status == 201
    assert resp.headers["Cache-Control"] == "no-store"
    token = await resp.json()
    assert_token_shape(token, created=True)
    assert uuid.UUID(token["id"]).version == 4 and str(uuid.UUID(token["id"])) == token["id"]
    assert token["label"] == "device" and token["user"] == "alice"
    assert token["is_valid"] is True and token["invalidated_at"] is None
    assert token["scopes"] == list(DEFAULT_USER_SCOPES)
    # The API key is exactly mrsm-key: + base64("id:secret").
    assert token["api_key"] == make_api_key(token["id"], token["secret"])
    assert parse_api_key(token["api_key"]) == (uuid.UUID(token["id"]), token["secret"])
    assert secret_well_formed(token["secret"])
    assert abs(parse_time(token["created_at"]) - datetime.now(UTC)) < timedelta(minutes=1)


async def test_secret_is_never_shown_again(api, user_headers, admin_headers):
    token = await api.create_token(user_headers, label="once")
    secret, api_key = token["secret"], token["api_key"]
    responses = [
        await api.client.get("/tokens", headers=user_headers),
        await api.client.get("/tokens", headers=admin_headers),
        await api.client.get(f"/tokens/{token['id']}", headers=user_headers),
        await api.client.patch(f"/tokens/{token['id']}", headers=user_headers,
                               json={"label": "renamed"}),
        await api.client.get("/users/me", headers={"Authorization": api_key}),
        await api.client.post(f"/tokens/{token['id']}/invalidate", headers=user_headers),
    ]
    for resp in responses:
        assert resp.status == 200
        text = await resp.text()
        assert secret not in text and api_key.split(":", 1)[1] not in text
        # The one field that names a secret is a time: when the previous one expires.
        text = text.replace('"previous_secret_expires_at"', "")
        assert "secret" not in text and "hash" not in text


async def test_secret_is_stored_only_as_sha256(api, user_headers, database_url):
    token = await api.create_token(user_headers)
    secret = token["secret"]
    # At least 256 random bits: 43 URL-safe base64 characters (6 bits each), then a checksum.
    assert len(secret) >= 43 + 1 and re.fullmatch(r"[A-Za-z0-9_-]+", secret)
    async with connect(database_url) as conn:
        row = await conn.fetchrow("SELECT * FROM tokens WHERE id = $1", uuid.UUID(token["id"]))
        as_text = await conn.fetchval("SELECT t::text FROM tokens t WHERE id = $1",
                                      uuid.UUID(token["id"]))
    assert bytes(row["secret_hash"]) == hashlib.sha256(secret.encode()).digest()
    assert secret not in as_text and secret[:20] not in as_text
    for value in row.values():
        if isinstance(value, str | bytes):
            assert secret not in (value if isinstance(value, str) else value.hex())


async def test_two_tokens_have_different_secrets_and_ids(api, user_headers):
    a = await api.create_token(user_headers)
    b = await api.create_token(user_headers)
    assert a["id"] != b["id"] and a["secret"] != b["secret"]


async def test_label_length(api, user_headers):
    good = ["x", "x" * 100, "with spaces and ünïcode ✓"]
    bad = ["", "x" * 101, 7, None, ["a"], "nul\x00byte", "lone \ud800 surrogate"]
    for label in good:
        resp = await post(api, user_headers, label=label)
        assert resp.status == 201 and (await resp.json())["label"] == label, label
    for label in bad:
        resp = await post(api, user_headers, label=label)
        assert "label" in (await assert_error(resp, 422, "validation_error"))["fields"], label
    listing = await (await api.client.get("/tokens", headers=user_headers)).json()
    assert listing["total"] == len(good)


async def test_label_generated_when_omitted(api, user_headers):
    a = await api.create_token(user_headers)
    b = await api.create_token(user_headers)
    assert a["label"] and b["label"] and a["label"] != b["label"]
    assert 1 <= len(a["label"]) <= 100


async def test_label_unique_per_owner(api, user_headers, admin_headers):
    await api.create_token(user_headers, label="same")
    await assert_error(await post(api, user_headers, label="same"), 409, "conflict")
    # Another owner may use it.
    await api.create_token(admin_headers, label="same")
    # Admin registering for alice hits alice's label.
    await assert_error(await post(api, admin_headers, label="same", user="alice"), 409)
    # Renaming onto an existing label is a 409 too.
    other = await api.create_token(user_headers, label="other")
    resp = await api.client.patch(f"/tokens/{other['id']}", headers=user_headers,
                                  json={"label": "same"})
    await assert_error(resp, 409, "conflict")


async def test_expiration_default_is_token_default_ttl(api, user_headers, settings):
    token = await api.create_token(user_headers)
    expected = datetime.now(UTC) + timedelta(days=settings.token_default_ttl_days)
    assert abs(parse_time(token["expiration"]) - expected) < timedelta(minutes=1)
    assert settings.token_default_ttl_days == 366


async def test_expiration_null_never_expires(api, user_headers):
    token = await api.create_token(user_headers, expiration=None)
    assert token["expiration"] is None and token["is_valid"] is True


async def test_bad_or_past_expiration_is_422(api, user_headers):
    for value in ("2020-01-01T00:00:00Z", "yesterday", "2026-13-01", "2999-02-30T00:00:00", "",
                  1700000000, True, {"at": "2999-01-01"}, "0001-01-01T00:00:00+01:00"):
        body = await assert_error(await post(api, user_headers, expiration=value), 422)
        assert "expiration" in body["fields"], value
    listing = await (await api.client.get("/tokens", headers=user_headers)).json()
    assert listing["total"] == 0


async def test_expiration_just_past_is_422(api, user_headers):
    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    await assert_error(await post(api, user_headers, expiration=past), 422)


async def test_expiration_offsets_and_naive_utc(api, user_headers):
    naive = await api.create_token(user_headers, expiration="2999-06-01T12:00:00")
    assert naive["expiration"] == "2999-06-01T12:00:00Z"
    offset = await api.create_token(user_headers, expiration="2999-06-01T12:00:00+02:00")
    assert offset["expiration"] == "2999-06-01T10:00:00Z"
    zulu = await api.create_token(user_headers, expiration="2999-06-01T12:00:00Z")
    assert zulu["expiration"] == "2999-06-01T12:00:00Z"
    date_only = await api.create_token(user_headers, expiration="2999-06-01")
    assert date_only["expiration"] == "2999-06-01T00:00:00Z"


@pytest.fixture
async def capped(aiohttp_client, make_settings, admin_headers):
    """An Api on an app with TOKEN_MAX_TTL_DAYS=30 (and the default TTL of 366 days)."""
    settings = make_settings(token_max_ttl_days=30)
    capped_client = await aiohttp_client(create_app(settings))
    return Api(capped_client, settings)


async def test_max_ttl_caps_the_default(capped, admin_headers):
    token = await capped.create_token(admin_headers)
    expected = datetime.now(UTC) + timedelta(days=30)
    assert abs(parse_time(token["expiration"]) - expected) < timedelta(minutes=1)
    config = await (await capped.client.get("/config")).json()
    assert config["token_max_ttl_days"] == 30 and config["token_default_ttl_days"] == 30
    assert config["never_expires_allowed"] is False


async def test_max_ttl_refuses_null_and_beyond(capped, admin_headers):
    for value in (None, (datetime.now(UTC) + timedelta(days=31)).isoformat()):
        body = await assert_error(await post(capped, admin_headers, expiration=value), 422)
        assert "expiration" in body["fields"]
    within = (datetime.now(UTC) + timedelta(days=29)).isoformat()
    token = await capped.create_token(admin_headers, expiration=within)
    # The same rules on PATCH.
    for value in (None, (datetime.now(UTC) + timedelta(days=31)).isoformat()):
        resp = await capped.client.patch(f"/tokens/{token['id']}", headers=admin_headers,
                                         json={"expiration": value})
        await assert_error(resp, 422, "validation_error")
    listing = await (await capped.client.get("/tokens", headers=admin_headers)).json()
    assert listing["total"] == 1  # nothing stored by the refusals


async def test_default_ttl_smaller_than_max(aiohttp_client, make_settings, admin_headers):
    settings = make_settings(token_default_ttl_days=7, token_max_ttl_days=30)
    short = Api(await aiohttp_client(create_app(settings)), settings)
    token = await short.create_token(admin_headers)
    expected = datetime.now(UTC) + timedelta(days=7)
    assert abs(parse_time(token["expiration"]) - expected) < timedelta(minutes=1)


async def test_scopes_unknown_is_422_and_case_sensitive(api, user_headers):
    for scopes in (["read:everything"], ["READ:PIPES"], ["Read:pipes"], ["read:pipes "], [1],
                   "read:pipes"):
        body = await assert_error(await post(api, user_headers, scopes=scopes), 422)
        assert "scopes" in body["fields"]
    listing = await (await api.client.get("/tokens", headers=user_headers)).json()
    assert listing["total"] == 0


async def test_scopes_owner_lacks_is_403(api, user_headers, admin_headers):
    await assert_error(await post(api, user_headers, scopes=["read:users"]), 403, "forbidden")
    await api.create_user("reader", scopes=["read:tokens", "write:tokens"])
    reader = await api.bearer("reader")
    await assert_error(await post(api, reader, scopes=["read:pipes"]), 403, "forbidden")
    # An admin registering for alice is bound by alice's scopes.
    await assert_error(await post(api, admin_headers, user="alice", scopes=["write:users"]), 403)
    listing = await (await api.client.get("/tokens", headers=admin_headers)).json()
    assert listing["total"] == 0


async def test_omitted_scopes_are_owner_and_caller(api, user_headers):
    narrow = await api.create_token(user_headers, scopes=["write:tokens", "read:pipes"])
    key = {"Authorization": narrow["api_key"]}
    made = await api.create_token(key)
    assert made["scopes"] == ["read:pipes", "write:tokens"]


@pytest.mark.parametrize("via", ["api_key", "jwt"])
async def test_caller_token_cannot_widen(api, user_headers, database_url, via):
    narrow = await api.create_token(user_headers, label="narrow",
                                    scopes=["write:tokens", "read:pipes"])
    headers = ({"Authorization": narrow["api_key"]} if via == "api_key"
               else bearer(await api.client_credentials(narrow)))
    for scopes in (["write:pipes"], ["read:pipes", "read:tokens"], list(DEFAULT_USER_SCOPES)):
        body = await assert_error(await post(api, headers, scopes=scopes), 403, "forbidden")
        assert "does not hold" in body["error_description"]
    async with connect(database_url) as conn:
        assert await conn.fetchval("SELECT count(*) FROM tokens") == 1
    ok = await api.create_token(headers, scopes=["read:pipes"])
    assert ok["scopes"] == ["read:pipes"]
    # PATCH cannot widen either.
    resp = await api.client.patch(f"/tokens/{ok['id']}", headers=headers,
                                  json={"scopes": ["read:pipes", "delete:pipes"]})
    await assert_error(resp, 403, "forbidden")


async def test_empty_scopes_is_allowed(api, user_headers):
    token = await api.create_token(user_headers, scopes=[])
    assert token["scopes"] == []
    await assert_error(await api.client.get("/tokens",
                                            headers={"Authorization": token["api_key"]}),
                       403, "insufficient_scope")


async def test_user_field_only_for_admins(api, user_headers, admin_headers):
    await api.create_user("bob")
    await assert_error(await post(api, user_headers, user="bob"), 403, "forbidden")
    await assert_error(await post(api, user_headers, user="nobody"), 403, "forbidden")
    own = await api.create_token(user_headers, user="ALICE")  # naming yourself is fine
    assert own["user"] == "alice"
    token = await api.create_token(admin_headers, user="bob", label="for-bob")
    assert token["user"] == "bob"
    assert token["scopes"] == list(DEFAULT_USER_SCOPES)  # bob's, not the admin's
    me = await (await api.client.get("/users/me",
                                     headers={"Authorization": token["api_key"]})).json()
    assert me["username"] == "bob"
    await assert_error(await post(api, admin_headers, user="nobody"), 422)
    await assert_error(await post(api, admin_headers, user="bad name"), 422)


async def test_unknown_and_read_only_fields_on_create(api, user_headers):
    for field, value in (("secret", "x" * 49), ("id", str(uuid.uuid4())), ("is_valid", False),
                         ("created_at", "2999-01-01"), ("owner", "bob")):
        body = await assert_error(await post(api, user_headers, **{field: value}), 422)
        assert field in body["fields"]
