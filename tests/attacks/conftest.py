"""Fixtures for attack tests: an app with a known JWT key, service processes, raw sockets."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from service.app import create_app
from tests.processes import start_service  # noqa: F401 (a fixture)

JWT_KEY = "attack-tests-signing-key-" + "k" * 48  # 64+ bytes: long enough for HS512 too


def without_throttling(settings):
    """The settings with failed-login throttling off, where the service has it: attack tests
    make many failures on purpose and check each answer, not the throttle's."""
    abuse = getattr(settings, "abuse", None)
    if abuse is None or not hasattr(abuse, "throttle_enabled"):
        return settings
    return dataclasses.replace(settings, abuse=dataclasses.replace(abuse, throttle_enabled=False))


@pytest.fixture
async def client(aiohttp_client, make_settings):
    """The app signing with JWT_KEY (so tests can forge tokens with and without it)."""
    return await aiohttp_client(create_app(without_throttling(make_settings(jwt_secret=JWT_KEY))))


async def raw_exchange(client, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are to the test server: (status, headers with lower-cased names,
    body). Status 0 when the server hung up without an answer."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(data)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    if not response:
        return 0, {}, b""
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip()
               for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split(" ", 2)[1]), headers, body


async def raw_request(client, data: bytes) -> tuple[int, bytes]:
    """Send bytes as they are to the test server; (status, body). 0 when the server hung up."""
    status, _, body = await raw_exchange(client, data)
    return status, body
