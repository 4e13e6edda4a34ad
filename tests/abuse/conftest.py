"""Fixtures for the abuse limits: an app with throttling on and a trusted proxy header,
so a test can speak from several client addresses through X-Forwarded-For."""

from __future__ import annotations

import ipaddress

import pytest

from service.abuse.settings import AbuseSettings
from service.app import create_app
from tests.conftest import ADMIN_PASSWORD, Api

# Small budgets so tests reach them quickly; the penalty outlives every test.
LIMITS = AbuseSettings(
    throttle_enabled=True,
    window_seconds=600,
    pair_failures=3,
    account_failures=6,
    source_failures=10,
    penalty_seconds=120,
    trusted_proxy_header="X-Forwarded-For",
    trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")),
)


def from_ip(address: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    """Headers that make the request come from `address` (through the trusted proxy)."""
    return {**(headers or {}), "X-Forwarded-For": address}


@pytest.fixture
def limits() -> AbuseSettings:
    return LIMITS


@pytest.fixture
async def tapi(aiohttp_client, make_settings, limits) -> Api:
    """Like `api`, on an app with throttling on (`limits`, overridable per module)."""
    settings = make_settings(abuse=limits)
    client = await aiohttp_client(create_app(settings))
    return Api(client, settings)


@pytest.fixture
async def tadmin(tapi: Api) -> dict[str, str]:
    await tapi.create_user("admin", ADMIN_PASSWORD, type_="admin")
    return await tapi.bearer("admin", ADMIN_PASSWORD)


async def password_login(api: Api, username: str, password: str, source: str):
    return await api.client.post("/login", headers=from_ip(source), data={
        "grant_type": "password", "username": username, "password": password})
