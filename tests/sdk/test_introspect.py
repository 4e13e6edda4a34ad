"""`conn.introspect(token)` on sql:main (as the operator) and api:main (as an admin)."""

from __future__ import annotations

import pytest

import service as mrsm
from service.app import create_app
from service.sdk.base import run
from tests.support.cli import ROOT_PASSWORD


@pytest.mark.parametrize("instance", ["sql:main", "api:main"])
def test_introspect_an_api_key(users, login_as, instance):
    login_as("root", ROOT_PASSWORD)
    sql = mrsm.get_connector("sql:main")
    created = run(sql.acreate_token({"user": "alice", "label": "probe"}))
    api_key, client_id = created["api_key"], created["id"]
    conn = mrsm.get_connector(instance)
    body = conn.introspect(api_key)
    assert body["active"] is True and body["username"] == "alice"
    assert body["client_id"] == client_id and body["token_type"] == "api_key"
    assert conn.introspect("not-a-token") == {"active": False}
    run(sql.ainvalidate_token(client_id))
    assert conn.introspect(api_key) == {"active": False}


async def test_the_database_verifies_a_jwt_as_the_service_does(aiohttp_client, settings,
                                                               users):
    client = await aiohttp_client(create_app(settings))
    resp = await client.post("/login", data={"grant_type": "password", "username": "alice",
                                             "password": "user-password-1"})
    access_token = (await resp.json())["access_token"]
    conn = mrsm.get_connector("sql:main")
    body = await conn.aintrospect(access_token)
    assert body["active"] is True and body["username"] == "alice"
    assert body["token_type"] == "bearer" and body["iss"] == settings.issuer
    assert (await conn.aintrospect(access_token[:-4] + "AAAA")) == {"active": False}
