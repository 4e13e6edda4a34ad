"""Narrowing a token's pipes through one process applies in another, to its key and JWT."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.support.api import ADMIN_PASSWORD
from tests.support.servers import run_server

GARDEN = "/pipes/mqtt:garden/temperature/greenhouse.1"
RAIN = "/pipes/mqtt:garden/rain/-"


@pytest.fixture
def two_servers(database_url):
    admin = {"ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": ADMIN_PASSWORD}
    with run_server(database_url, **admin) as a, run_server(database_url, **admin) as b:
        yield a, b


async def _json(session, method, url, **kwargs):
    async with session.request(method, url, **kwargs) as resp:
        return resp.status, await resp.json()


async def test_narrowing_in_one_process_is_applied_by_the_other_at_once(two_servers):
    a, b = two_servers
    async with aiohttp.ClientSession() as s:
        _, grant = await _json(s, "POST", a.base_url + "/login", data={
            "grant_type": "password", "username": "admin", "password": ADMIN_PASSWORD})
        admin = {"Authorization": f"Bearer {grant['access_token']}"}
        for path in (GARDEN, RAIN):
            status, _ = await _json(s, "POST", a.base_url + path + "/data?create=true",
                                    headers=admin, json=[{"timestamp": "2024-01-01", "v": 1}])
            assert status == 200
        status, token = await _json(s, "POST", a.base_url + "/tokens", headers=admin, json={
            "label": "device", "scopes": ["read:pipes"], "pipes": ["mqtt:garden/*/*"]})
        assert status == 201
        _, grant = await _json(s, "POST", b.base_url + "/login", data={
            "grant_type": "client_credentials", "client_id": token["id"],
            "client_secret": token["secret"]})
        credentials = [{"Authorization": token["api_key"]},
                       {"Authorization": f"Bearer {grant['access_token']}"}]
        for headers in credentials:  # verified, hence cached, by b
            assert (await _json(s, "GET", b.base_url + RAIN, headers=headers))[0] == 200
        status, _ = await _json(s, "PATCH", f"{a.base_url}/tokens/{token['id']}",
                                headers=admin, json={"pipes": ["mqtt:garden/temperature/*"]})
        assert status == 200
        started = time.monotonic()
        while True:
            statuses = [(await _json(s, "GET", b.base_url + RAIN, headers=h))[0]
                        for h in credentials]
            if statuses == [404, 404]:
                break
            assert set(statuses) <= {200, 404}, statuses
            assert time.monotonic() - started < 3, "still reachable after 3 s"
            await asyncio.sleep(0.01)
        for headers in credentials:
            assert (await _json(s, "GET", b.base_url + GARDEN, headers=headers))[0] == 200
            _, listing = await _json(s, "GET", b.base_url + "/pipes", headers=headers)
            assert listing["total"] == 1
