"""Hostile values in bodies, forms and queries: SQL, look-alike names, odd dates, extra fields."""

from __future__ import annotations

import asyncpg
import pytest

from tests.support.api import ADMIN_PASSWORD, USER_PASSWORD

SQL = [
    "' OR '1'='1",
    "admin'--",
    "'; DROP TABLE users; --",
    "\"; DELETE FROM tokens; --",
    "1; SELECT pg_sleep(5)",
    "' UNION SELECT id, secret_hash FROM tokens --",
    "$1",
    "\\x27 OR 1=1",
]


async def table_counts(database_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(database_url)
    try:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}")  # noqa: S608 (fixed names)
                for t in ("users", "tokens")}
    finally:
        await conn.close()


@pytest.mark.parametrize("text", SQL)
async def test_sql_in_token_labels_is_stored_as_text(client, api, admin_headers, text,
                                                     database_url):
    before = await table_counts(database_url)
    token = await api.create_token(admin_headers, label=text)
    assert token["label"] == text
    resp = await client.patch(f"/tokens/{token['id']}", json={"label": text + " (2)"},
                              headers=admin_headers)
    assert resp.status == 200
    assert (await resp.json())["label"] == text + " (2)"
    after = await table_counts(database_url)
    assert after == {"users": before["users"], "tokens": before["tokens"] + 1}


@pytest.mark.parametrize("text", SQL)
async def test_sql_in_names_and_queries_is_refused_by_the_rules(client, admin_headers, text,
                                                                database_url):
    before = await table_counts(database_url)
    cases = [
        client.post("/users", json={"username": text, "password": "long-enough-1"},
                    headers=admin_headers),
        client.post("/tokens", json={"user": text}, headers=admin_headers),
        client.get("/tokens", params={"user": text}, headers=admin_headers),
        client.post("/tokens", json={"scopes": [text]}, headers=admin_headers),
    ]
    for request in cases:
        resp = await request
        assert resp.status == 422, await resp.text()
    # In a path: the username does not exist, whatever it says.
    resp = await client.delete(f"/users/{text}", headers=admin_headers)
    assert resp.status in (404, 405), await resp.text()
    assert await table_counts(database_url) == before


@pytest.mark.parametrize("text", SQL)
async def test_sql_at_login_is_just_a_wrong_username_or_password(client, api, text):
    await api.create_user("admin", ADMIN_PASSWORD, type_="admin")
    for form in ({"username": text, "password": "x"},
                 {"username": "admin", "password": text},
                 {"username": text, "password": text}):
        resp = await client.post("/login", data={"grant_type": "password", **form})
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_grant"
    resp = await client.post("/login", data={"grant_type": "client_credentials",
                                             "client_id": text, "client_secret": text})
    assert resp.status == 401
    assert (await resp.json())["error"] == "invalid_client"


@pytest.mark.parametrize("name", [
    "\u0430dmin",  # Cyrillic a
    "\uff41\uff44\uff4d\uff49\uff4e",  # full-width "admin"
    "admi\u0578",  # Armenian vo, looks like n
    "adm\u0131n",  # dotless i
    "admin\u200b",  # zero-width space
    "ad\u00admin",  # soft hyphen
    "Admin\u0307",  # combining dot
])
async def test_look_alike_usernames_are_refused_and_never_match(client, api, admin_headers,
                                                                name):
    resp = await client.post("/users", json={"username": name, "password": "long-enough-1"},
                             headers=admin_headers)
    assert resp.status == 422
    assert "username" in (await resp.json())["fields"]
    resp = await client.post("/login", data={"grant_type": "password", "username": name,
                                             "password": ADMIN_PASSWORD})
    assert resp.status == 400, "a look-alike of 'admin' logged in as admin"
    resp = await client.post("/tokens", json={"user": name}, headers=admin_headers)
    assert resp.status == 422


@pytest.mark.parametrize("expiration", [
    "0001-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "9999-12-31T23:59:59-14:00",  # past the largest datetime once in UTC
    "+10000-01-01",
    "2026-02-30T00:00:00Z",
    "2030-01-01T25:00:00Z",
    "NaN",
    "",
    "now",
    True,
    False,
    0,
    1893456000,  # a Unix time is not ISO 8601
    1e308,
    [],
    {},
])
async def test_far_and_odd_expirations_are_422(client, admin_headers, expiration):
    resp = await client.post("/tokens", json={"expiration": expiration}, headers=admin_headers)
    assert resp.status == 422, await resp.text()
    assert "expiration" in (await resp.json())["fields"]


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
async def test_json_nan_and_infinity_are_refused(client, admin_headers, literal):
    resp = await client.post("/tokens", data=b'{"expiration": ' + literal + b"}",
                             headers={**admin_headers, "Content-Type": "application/json"})
    assert resp.status in (400, 422), await resp.text()


async def test_the_far_future_within_the_calendar_is_accepted(client, admin_headers):
    resp = await client.post("/tokens", json={"expiration": "9999-12-31T23:59:59Z"},
                             headers=admin_headers)
    assert resp.status == 201
    assert (await resp.json())["expiration"] == "9999-12-31T23:59:59Z"


@pytest.mark.parametrize("field,value", [
    ("id", "00000000-0000-4000-8000-000000000001"),
    ("is_valid", False),
    ("invalidated_at", "2030-01-01T00:00:00Z"),
    ("created_at", "2000-01-01T00:00:00Z"),
    ("secret", "chosen-by-the-client"),
    ("secret_hash", "00"),
    ("api_key", "mrsm-key:x"),
    ("user_id", "00000000-0000-4000-8000-000000000001"),
    ("last_used_at", "2030-01-01T00:00:00Z"),
])
async def test_mass_assignment_on_tokens_is_refused(client, api, user_headers, field, value):
    resp = await client.post("/tokens", json={"label": "mass", field: value},
                             headers=user_headers)
    assert resp.status == 422
    assert field in (await resp.json())["fields"]
    token = await api.create_token(user_headers, label="victim")
    resp = await client.patch(f"/tokens/{token['id']}", json={field: value},
                              headers=user_headers)
    assert resp.status == 422
    assert field in (await resp.json())["fields"]


async def test_a_user_cannot_assign_a_token_to_someone_else(client, api, user_headers):
    await api.create_user("bob")
    resp = await client.post("/tokens", json={"user": "bob"}, headers=user_headers)
    assert resp.status == 403
    token = await api.create_token(user_headers, label="mine")
    resp = await client.patch(f"/tokens/{token['id']}", json={"user": "bob"},
                              headers=user_headers)
    assert resp.status == 422
    resp = await client.get("/tokens", params={"user": "bob"}, headers=user_headers)
    assert resp.status == 403


@pytest.mark.parametrize("body", [
    {"current_password": USER_PASSWORD, "new_password": "new-password-9", "type": "admin"},
    {"current_password": USER_PASSWORD, "new_password": "new-password-9",
     "scopes": ["read:users"]},
    {"current_password": USER_PASSWORD, "new_password": "new-password-9", "id": "x"},
    {"current_password": USER_PASSWORD, "new_password": "new-password-9",
     "password_version": 1},
])
async def test_mass_assignment_on_your_own_user_is_refused(client, user_headers, body):
    resp = await client.patch("/users/me", json=body, headers=user_headers)
    assert resp.status == 422
    me = await (await client.get("/users/me", headers=user_headers)).json()
    assert me["type"] == "user" and "read:users" not in me["scopes"]


@pytest.mark.parametrize("field,value", [("id", "00000000-0000-4000-8000-000000000001"),
                                         ("created_at", "2000-01-01T00:00:00Z"),
                                         ("password_hash", "$argon2id$..."),
                                         ("password_version", 7)])
async def test_mass_assignment_on_users_is_refused(client, admin_headers, field, value):
    resp = await client.post("/users", json={"username": "eve", "password": "long-enough-1",
                                             field: value}, headers=admin_headers)
    assert resp.status == 422
    assert field in (await resp.json())["fields"]


@pytest.mark.parametrize("text", SQL)
async def test_sql_in_pipes_and_audit_filters(client, admin_headers, text, database_url):
    before = await table_counts(database_url)
    resp = await client.post("/pipes", json={"connector_keys": text, "metric_key": "m"},
                             headers=admin_headers)
    assert resp.status == 422
    parameters = {"note": text, text: [text, {"nested": text}]}
    resp = await client.post("/pipes", json={"connector_keys": "sql:main", "metric_key": "sqli",
                                             "parameters": parameters}, headers=admin_headers)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["parameters"] == parameters
    for query in ({"user": text}, {"kind": text}, {"token": text}, {"since": text}):
        resp = await client.get("/audit", params=query, headers=admin_headers)
        assert resp.status == 422, (query, await resp.text())
    resp = await client.get("/pipes", params={"connector_keys": text}, headers=admin_headers)
    assert resp.status in (200, 422)
    if resp.status == 200:
        assert (await resp.json())["items"] == []
    assert await table_counts(database_url) == before
