"""Browser tests for the web console: the real service in a subprocess, Debian's Chromium.

One Chromium per test session (Playwright's own launch gives it a fresh temporary
profile, removed at close), one browser context per test (fresh sessionStorage),
one service per module. The service is `python -m service` on a free loopback port,
using this run's database; the autouse fixture in tests/conftest.py empties the
tables before each test, so each test creates its own people.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from service.auth.passwords import PasswordHasher
from service.config import Settings
from service.users.ops import insert_user as create_user
from tests.support.console import (
    ADMIN,
    ALICE,
    CHROMIUM,
    CHROMIUM_ARGS,
    REPORT_VIOLATIONS,
    Console,
    ConsoleFactory,
    Http,
    console_service,
    require_chromium,
)
from tests.support.servers import Server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def server(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    name = request.module.__name__.rsplit(".", 1)[-1]
    async with console_service(database_url, name) as found:
        yield found


@pytest.fixture
def http(server: Server) -> Http:
    """The module's service over its JSON API, for arranging and checking tests."""
    return Http(server.base_url)


@pytest.fixture
async def people(settings: Settings) -> dict[str, tuple[str, str]]:
    """An admin and a regular user, made afresh after the tables were emptied."""
    hasher = PasswordHasher(settings)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await create_user(conn, hasher, username=ADMIN[0], password=ADMIN[1], type_="admin")
        await create_user(conn, hasher, username=ALICE[0], password=ALICE[1])
    finally:
        await conn.close()
        hasher.close()
    return {"admin": ADMIN, "alice": ALICE}


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                    args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def console_factory(browser: Browser, server: Server) -> AsyncIterator[ConsoleFactory]:
    """Open the console in a fresh browser context (its own sessionStorage)."""
    contexts, consoles = [], []

    async def make(*, timezone_id: str = "UTC", viewport: dict | None = None,
                   target: Server | None = None) -> Console:
        context = await browser.new_context(locale="en-US", timezone_id=timezone_id,
                                            viewport=viewport or {"width": 1280, "height": 800})
        await context.grant_permissions(["clipboard-read", "clipboard-write"])
        contexts.append(context)
        console = Console(await context.new_page(), target or server)
        console.page.set_default_timeout(10_000)
        # Every violation of the policy reported to the page, not only those Chromium logs.
        await context.add_init_script(REPORT_VIOLATIONS)
        console.page.on("pageerror", lambda exc: console.page_errors.append(str(exc)))
        console.page.on("console", console.on_message)

        async def on_dialog(dialog) -> None:
            console.alerts.append(dialog.message)
            await dialog.dismiss()

        console.page.on("dialog", on_dialog)
        consoles.append(console)
        await console.page.goto(console.server.base_url + "/")
        return console

    yield make
    for context in contexts:
        await context.close()
    for console in consoles:
        # Whatever a test did, the page must not have thrown, logged an error or broken
        # its own policy.
        assert console.page_errors == [], console.page_errors
        assert console.csp_violations == [], console.csp_violations
        assert console.console_errors == [], console.console_errors
        assert console.alerts == [], console.alerts


@pytest_asyncio.fixture(loop_scope="session")
async def console(console_factory: ConsoleFactory) -> Console:
    return await console_factory()
