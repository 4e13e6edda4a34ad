"""Fixtures for the abuse limits: an app with throttling on and a trusted proxy header,
so a test can speak from several client addresses through X-Forwarded-For.

Every test that uses `limits` (so `tapi`) runs twice: with the counters in PostgreSQL
and in Redis (TEST_REDIS_URL, default redis://127.0.0.1:6379/0, each test under its
own key prefix, deleted afterwards)."""

from __future__ import annotations

import pytest

from service.abuse.settings import AbuseSettings
from service.app import create_app
from tests.support.api import ADMIN_PASSWORD, Api
from tests.support.throttling import LIMITS, Backend


@pytest.fixture(params=["postgres", "redis"])
async def backend(request, database_url):
    b = Backend(request.param, database_url)
    yield b
    await b.clean()


@pytest.fixture
def limits(backend: Backend) -> AbuseSettings:
    return backend.settings(LIMITS)


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
