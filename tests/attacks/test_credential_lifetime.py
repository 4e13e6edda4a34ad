"""A credential cannot outlive its maker.

A token (its API key, or its JWT from client credentials) may set no expiration later than
its own, on a new token or an existing one, itself included: `null` (never) or a later time
is a 422 naming `expiration`; an omitted expiration is the default, capped at its own.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from service.auth.principal import Principal
from service.db import create_pool
from service.errors import ApiError
from service.tokens import ops
from service.validation import isoformat
from tests.support.assertions import assert_error, parse_time

SCOPES = ["read:tokens", "write:tokens"]


def iso(when: datetime) -> str:
    return isoformat(when)


async def assert_expiration_refused(resp) -> dict:
    body = await assert_error(resp, 422, "validation_error")
    assert list(body["fields"]) == ["expiration"], body
    assert "expiration" in body["error_description"].lower(), body
    return body


async def short_lived(api, headers, hours: float = 1) -> tuple[dict, datetime]:
    """A token of `headers`' user holding write:tokens, expiring in `hours`."""
    expires = (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0)
    token = await api.create_token(headers, label=f"short-{uuid.uuid4().hex[:6]}",
                                   scopes=SCOPES, expiration=iso(expires))
    assert parse_time(token["expiration"]) == expires
    return token, expires


@pytest.fixture
async def alice(api) -> dict[str, str]:
    await api.create_user("alice")
    return await api.bearer("alice")


@pytest.fixture(params=["api_key", "client_credentials_jwt"])
async def caller(request, api, alice):
    """(headers of a one-hour token's own credential, the token, its expiration)."""
    token, expires = await short_lived(api, alice)
    if request.param == "api_key":
        headers = {"Authorization": token["api_key"]}
    else:
        headers = {"Authorization": f"Bearer {await api.client_credentials(token)}"}
    return headers, token, expires


async def expiration_of(api, alice, token_id: str) -> datetime | None:
    resp = await api.client.get(f"/tokens/{token_id}", headers=alice)
    assert resp.status == 200, await resp.text()
    value = (await resp.json())["expiration"]
    return parse_time(value) if value is not None else None


# --- a child token ----------------------------------------------------------------------

async def test_a_child_that_never_expires_is_refused(api, caller):
    headers, _, _ = caller
    await assert_expiration_refused(await api.client.post(
        "/tokens", headers=headers, json={"label": "child", "expiration": None}))


async def test_a_child_outliving_its_maker_is_refused(api, caller):
    headers, _, expires = caller
    for later in (expires + timedelta(seconds=1), expires + timedelta(days=30)):
        await assert_expiration_refused(await api.client.post(
            "/tokens", headers=headers, json={"label": "child", "expiration": iso(later)}))


async def test_a_child_expiring_with_or_before_its_maker_is_made(api, caller):
    headers, _, expires = caller
    for n, when in enumerate((expires - timedelta(minutes=30), expires)):
        child = await api.create_token(headers, label=f"child-{n}", expiration=iso(when))
        assert parse_time(child["expiration"]) == when


async def test_an_omitted_expiration_is_capped_at_the_makers(api, caller):
    headers, _, expires = caller
    child = await api.create_token(headers, label="child")
    assert parse_time(child["expiration"]) == expires


async def test_no_refused_child_was_stored(api, alice, caller):
    headers, token, _ = caller
    await api.client.post("/tokens", headers=headers, json={"label": "x", "expiration": None})
    resp = await api.client.get("/tokens", headers=alice)
    assert [t["label"] for t in (await resp.json())["items"]] == [token["label"]]


# --- changing an expiration -------------------------------------------------------------

async def test_a_token_cannot_extend_itself(api, alice, caller):
    headers, token, expires = caller
    url = f"/tokens/{token['id']}"
    for value in (None, iso(expires + timedelta(hours=1))):
        await assert_expiration_refused(await api.client.patch(
            url, headers=headers, json={"expiration": value}))
    assert await expiration_of(api, alice, token["id"]) == expires


async def test_a_token_may_shorten_itself(api, alice, caller):
    headers, token, expires = caller
    sooner = expires - timedelta(minutes=10)
    resp = await api.client.patch(f"/tokens/{token['id']}", headers=headers,
                                  json={"expiration": iso(sooner)})
    assert resp.status == 200, await resp.text()
    assert parse_time((await resp.json())["expiration"]) == sooner


async def test_a_token_cannot_extend_another_token(api, alice, caller):
    headers, _, expires = caller
    other, _ = await short_lived(api, alice, hours=0.5)
    url = f"/tokens/{other['id']}"
    for value in (None, iso(expires + timedelta(minutes=1))):
        await assert_expiration_refused(await api.client.patch(
            url, headers=headers, json={"expiration": value}))
    resp = await api.client.patch(url, headers=headers,
                                  json={"expiration": iso(expires)})
    assert resp.status == 200, await resp.text()
    # Changes that do not set an expiration are not refused by it.
    resp = await api.client.patch(url, headers=headers, json={"label": "renamed"})
    assert resp.status == 200, await resp.text()


# --- who is not capped ------------------------------------------------------------------

async def test_a_token_without_an_expiration_is_not_capped(api, alice):
    forever = await api.create_token(alice, label="forever", scopes=SCOPES, expiration=None)
    assert forever["expiration"] is None
    key = {"Authorization": forever["api_key"]}
    child = await api.create_token(key, label="child", expiration=None)
    assert child["expiration"] is None
    far = (datetime.now(UTC) + timedelta(days=3000)).replace(microsecond=0)
    resp = await api.client.patch(f"/tokens/{forever['id']}", headers=key,
                                  json={"expiration": iso(far)})
    assert resp.status == 200, await resp.text()


async def test_password_sessions_keep_todays_rules(api, alice):
    child = await api.create_token(alice, label="forever", expiration=None)
    assert child["expiration"] is None
    admin = await api.admin_headers()
    made = await api.create_token(admin, label="for-alice", user="alice", expiration=None)
    assert made["expiration"] is None
    resp = await api.client.patch(f"/tokens/{made['id']}", headers=admin,
                                  json={"expiration": None})
    assert resp.status == 200, await resp.text()
    # An omitted expiration is still the default TTL, not anything shorter.
    default = await api.create_token(admin, label="default")
    expected = datetime.now(UTC) + timedelta(days=api.settings.token_default_ttl_days)
    assert abs(parse_time(default["expiration"]) - expected) < timedelta(minutes=1)


async def test_an_admins_token_is_capped_for_other_users_tokens_too(api, alice):
    admin = await api.admin_headers()
    token, expires = await short_lived(api, admin)
    key = {"Authorization": token["api_key"]}
    await assert_expiration_refused(await api.client.post(
        "/tokens", headers=key, json={"user": "alice", "expiration": None}))
    made = await api.create_token(key, user="alice", label="capped")
    assert parse_time(made["expiration"]) == expires


# --- the rule lives in ops --------------------------------------------------------------

async def test_ops_caps_a_token_principal_and_not_the_operator(settings):
    # A connection set up as the service's are (the audit's JSON codecs).
    pool = await create_pool(settings, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await _ops_caps(conn, settings)
    finally:
        await pool.close()


async def _ops_caps(conn, settings) -> None:
    """A token's principal is capped in ops itself; the operator is not."""
    user_id = await conn.fetchval(
        "INSERT INTO users (id, username, password_hash, type, scopes) "
        "VALUES ($1, 'carol', 'x', 'user', $2) RETURNING id", uuid.uuid4(), SCOPES)
    expires = datetime.now(UTC) + timedelta(hours=1)
    actor = Principal(user_id=user_id, username="carol", user_type="user",
                      scopes=frozenset(SCOPES), kind="api_key", token_id=uuid.uuid4(),
                      expires_at=expires)
    with pytest.raises(ApiError) as refused:
        await ops.register(conn, settings, actor, label="a", expiration_given=True,
                           expiration=None)
    assert refused.value.status == 422 and "expiration" in refused.value.fields
    out = await ops.register(conn, settings, actor, label="b")
    assert parse_time(out["expiration"]) <= expires
    with pytest.raises(ApiError):
        await ops.edit(conn, settings, actor, out["id"], {"expiration": None})
    # The operator (the `sql:` command line) is no token: not capped.
    out = await ops.edit(conn, settings, ops.OPERATOR, out["id"], {"expiration": None})
    assert out["expiration"] is None
