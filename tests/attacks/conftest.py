"""Fixtures for attack tests: an app with a known JWT key."""

from __future__ import annotations

import pytest

from service.app import create_app
from tests.support.attacks import JWT_KEY, without_throttling


@pytest.fixture
async def client(aiohttp_client, make_settings):
    """The app signing HS256 with JWT_KEY (so tests can forge tokens with and without it)."""
    settings = make_settings(jwt_algorithm="HS256", jwt_secret=JWT_KEY)
    return await aiohttp_client(create_app(without_throttling(settings)))
