"""The verified-credential cache never makes a refused credential accepted."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from service import keys
from service.app import create_app
from service.auth.cache import CredentialCache
from service.auth.principal import Principal
from tests.support.api import Api


def _authn(client):
    return client.server.app[keys.AUTHN]


async def _wait_for(predicate, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def _status(client, key: str, path: str = "/users/me") -> int:
    return (await client.get(path, headers={"Authorization": key})).status


async def test_a_second_request_is_a_cache_hit(client, api, admin_headers):
    token = await api.create_token(admin_headers, label="hit")
    cache = _authn(client).cache
    assert await _status(client, token["api_key"]) == 200
    hits = cache.hits
    assert await _status(client, token["api_key"]) == 200
    assert cache.hits == hits + 1


async def test_every_form_of_a_key_is_cached_and_a_deletion_drops_them_all(
        client, api, admin_headers):
    # The cache is keyed by the header as sent: each accepted form is its own entry, and
    # an invalidation must drop them all.
    token = await api.create_token(admin_headers, label="forms")
    key = token["api_key"]
    forms = (key, f"Bearer {key}", f"bearer   {key}", f"  {key.upper()[:8]}{key[8:]}")
    cache = _authn(client).cache
    for form in forms:
        assert await _status(client, form) == 200
    hits = cache.hits
    for form in forms:
        assert await _status(client, form) == 200
    assert cache.hits == hits + len(forms)
    resp = await client.delete(f"/tokens/{token['id']}", headers=admin_headers)
    assert resp.status == 204
    for form in forms:
        assert await _status(client, form) == 401


async def test_expiry_crossing_while_cached_is_refused(client, api, admin_headers):
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    token = await api.create_token(admin_headers, label="short", expiration=soon)
    jwt = await api.client_credentials(token)
    assert await _status(client, token["api_key"]) == 200
    assert await _status(client, f"Bearer {jwt}") == 200
    await asyncio.sleep(max(0.0, datetime.fromisoformat(soon).timestamp() - time.time()) + 0.1)
    assert await _status(client, token["api_key"]) == 401
    assert await _status(client, f"Bearer {jwt}") == 401


async def test_scope_narrowed_while_cached_is_refused(client, api, admin_headers):
    token = await api.create_token(admin_headers, label="narrow", scopes=["read:tokens"])
    jwt = await api.client_credentials(token)
    for credential in (token["api_key"], f"Bearer {jwt}"):
        assert await _status(client, credential, "/tokens") == 200
    resp = await client.patch(f"/tokens/{token['id']}", json={"scopes": []},
                              headers=admin_headers)
    assert resp.status == 200
    for credential in (token["api_key"], f"Bearer {jwt}"):
        assert await _status(client, credential, "/tokens") == 403


async def test_owner_losing_a_scope_narrows_their_cached_token(client, api, admin_headers):
    await api.create_user("bob")
    bob = await api.bearer("bob")
    token = await api.create_token(bob, label="bobs", scopes=["read:tokens"])
    assert await _status(client, token["api_key"], "/tokens") == 200
    resp = await client.patch("/users/bob", json={"scopes": ["read:pipes"]},
                              headers=admin_headers)
    assert resp.status == 200
    assert await _status(client, token["api_key"], "/tokens") == 403


async def test_owner_deleted_while_cached_is_refused(client, api, admin_headers):
    await api.create_user("carol")
    carol = await api.bearer("carol")
    token = await api.create_token(carol, label="carols")
    jwt = await api.client_credentials(token)
    for credential in (token["api_key"], f"Bearer {jwt}", carol["Authorization"]):
        assert await _status(client, credential) == 200
    assert (await client.delete("/users/carol", headers=admin_headers)).status == 204
    for credential in (token["api_key"], f"Bearer {jwt}", carol["Authorization"]):
        assert await _status(client, credential) == 401


async def test_a_change_made_elsewhere_reaches_the_cache_through_notify(
    client, api, admin_headers, database_url
):
    token = await api.create_token(admin_headers, label="elsewhere")
    assert await _status(client, token["api_key"]) == 200
    # Another process (here: a plain connection) invalidates it behind this app's back.
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE tokens SET invalidated_at = now() WHERE id = $1",
                           uuid.UUID(token["id"]))
    finally:
        await conn.close()
    started = time.monotonic()
    while await _status(client, token["api_key"]) == 200:
        assert time.monotonic() - started < 1.0, "revocation took a second or more"
        await asyncio.sleep(0.01)


async def test_losing_the_listener_disables_the_cache_until_it_reconnects(
    client, api, admin_headers, database_url
):
    authn = _authn(client)
    token = await api.create_token(admin_headers, label="deaf")
    assert await _status(client, token["api_key"]) == 200
    conn = await asyncpg.connect(database_url)
    try:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name LIKE 'mrsm-auth-listener-%' AND datname = current_database()")
        assert killed >= 1
        await _wait_for(lambda: not authn.cache.enabled, within=3)
        assert len(authn.cache) == 0
        # Still serving, from the database; a change is seen at once.
        assert await _status(client, token["api_key"]) == 200
        await conn.execute("UPDATE tokens SET invalidated_at = now() WHERE id = $1",
                           uuid.UUID(token["id"]))
        assert await _status(client, token["api_key"]) == 401
    finally:
        await conn.close()
    await _wait_for(lambda: authn.cache.enabled, within=5)


async def test_last_used_is_coalesced_and_flushed(aiohttp_client, make_settings, database_url):
    client = await aiohttp_client(create_app(make_settings(last_used_flush_seconds=1)))
    api = Api(client, make_settings())
    headers = await api.admin_headers()
    token = await api.create_token(headers, label="used")
    assert token["last_used_at"] is None
    for _ in range(5):
        assert await _status(client, token["api_key"]) == 200
    before = time.time()
    deadline = time.monotonic() + 4
    while True:
        body = await (await client.get(f"/tokens/{token['id']}", headers=headers)).json()
        if body["last_used_at"] is not None:
            break
        assert time.monotonic() < deadline, "last_used_at never flushed"
        await asyncio.sleep(0.1)
    used_at = datetime.fromisoformat(body["last_used_at"].replace("Z", "+00:00")).timestamp()
    assert before - 5 <= used_at <= time.time()


def _principal(user: uuid.UUID, token: uuid.UUID | None = None) -> Principal:
    return Principal(user_id=user, username="u", user_type="user", scopes=frozenset(),
                     kind="api_key", token_id=token)


def test_cache_is_bounded_lru():
    cache = CredentialCache(max_size=2, ttl_seconds=60)
    cache.enabled = True
    now = time.time()
    users = [uuid.uuid4() for _ in range(3)]
    for i, user in enumerate(users):
        cache.put(bytes([i]) * 32, _principal(user), now + 60, cache.generation, now)
        if i == 1:
            assert cache.get(bytes([0]) * 32, now) is not None  # 0 is now most recent
    assert len(cache) == 2
    assert cache.get(bytes([1]) * 32, now) is None  # the least recently used went
    assert cache.get(bytes([0]) * 32, now) is not None


def test_cache_refuses_a_result_older_than_a_revocation():
    cache = CredentialCache(max_size=10, ttl_seconds=60)
    cache.enabled = True
    now = time.time()
    generation = cache.generation
    token = uuid.uuid4()
    cache.drop_token(token)  # a revocation lands while a lookup is in flight
    cache.put(b"x" * 32, _principal(uuid.uuid4(), token), now + 60, generation, now)
    assert cache.get(b"x" * 32, now) is None


@pytest.mark.parametrize("enabled", [False, True])
def test_cache_entries_expire_by_ttl_and_own_expiry(enabled):
    cache = CredentialCache(max_size=10, ttl_seconds=5)
    cache.enabled = enabled
    now = time.time()
    cache.put(b"a" * 32, _principal(uuid.uuid4()), now + 2, cache.generation, now)
    cache.put(b"b" * 32, _principal(uuid.uuid4()), now + 60, cache.generation, now)
    if not enabled:  # a disabled cache remembers nothing
        assert cache.get(b"b" * 32, now) is None
        return
    assert cache.get(b"a" * 32, now + 1) is not None
    assert cache.get(b"a" * 32, now + 2) is None  # its own expiry
    assert cache.get(b"b" * 32, now + 4) is not None
    assert cache.get(b"b" * 32, now + 5) is None  # the safety-net TTL


async def test_cache_hits_and_misses_are_exported_as_metrics(client, api, admin_headers):
    token = await api.create_token(admin_headers, label="metered")
    for _ in range(3):
        assert await _status(client, token["api_key"]) == 200
    cache = _authn(client).cache
    text = await (await client.get("/metrics", headers=admin_headers)).text()
    assert f'mrsm_auth_cache_total{{result="hit"}} {float(cache.hits)}' in text
    assert f'mrsm_auth_cache_total{{result="miss"}} {float(cache.misses)}' in text
    assert cache.hits >= 2
