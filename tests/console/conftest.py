"""Browser tests for the web console: the real service in a subprocess, Debian's Chromium.

One Chromium per test session (Playwright's own launch gives it a fresh temporary
profile, removed at close), one browser context per test (fresh sessionStorage),
one service per module. The service is `python -m service` on a free loopback port,
using this run's database; the autouse fixture in tests/conftest.py empties the
tables before each test, so each test creates its own people.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from service.auth.passwords import PasswordHasher
from service.config import PROJECT_ROOT, Settings
from service.users.ops import insert_user as create_user
from tests.servers import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "console"
ADMIN = ("admin", "admin-password-1")
ALICE = ("alice", "alice-password-1")




@dataclass
class Http:
    """The service's JSON API over HTTP, for arranging and checking tests."""

    base_url: str

    async def call(self, method: str, path: str, *, headers: dict | None = None,
                   body: dict | None = None, form: dict | None = None) -> tuple[int, object]:
        """(status, parsed JSON body or None)."""
        async with aiohttp.ClientSession() as session, session.request(
            method, self.base_url + path, headers=headers, json=body, data=form,
            allow_redirects=False,
        ) as resp:
            raw = await resp.read()
            parsed = await resp.json() if raw and resp.content_type == "application/json" else None
            return resp.status, parsed

    async def bearer(self, username: str, password: str) -> dict[str, str]:
        status, body = await self.call("POST", "/login", form={
            "grant_type": "password", "username": username, "password": password})
        assert status == 200, body
        return {"Authorization": f"Bearer {body['access_token']}"}

    async def create_token(self, headers: dict[str, str], **body) -> dict:
        status, out = await self.call("POST", "/tokens", headers=headers, body=body)
        assert status == 201, out
        return out


@dataclass
class Server:
    base_url: str
    http: Http
    process: asyncio.subprocess.Process
    log: Path


@asynccontextmanager
async def run_service(database_url: str, name: str, **env: str) -> AsyncIterator[Server]:
    """`python -m service` on a free port, stopped (SIGTERM, then SIGKILL) afterwards."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    full_env = {**os.environ, "DATABASE_URL": database_url, "HOST": "127.0.0.1",
                "PORT": str(port), "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "8",
                "ARGON2_PARALLELISM": "1", "ADMIN_USERNAME": ADMIN[0],
                "ADMIN_PASSWORD": ADMIN[1], "ACCESS_LOG": "0",
                # Last-used times reach the table within a second, not a minute.
                "LAST_USED_FLUSH_SECONDS": "1", **env}
    log = ARTIFACTS / f"service-{name}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "service", cwd=PROJECT_ROOT, env=full_env,
            stdout=out, stderr=asyncio.subprocess.STDOUT)
    http = Http(f"http://127.0.0.1:{port}")
    try:
        await _wait_healthy(process, http, log)
        yield Server(http.base_url, http, process, log)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


async def _wait_healthy(process: asyncio.subprocess.Process, http: Http, log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        if process.returncode is not None:
            pytest.fail(f"the service exited ({process.returncode}):\n{_tail(log)}")
        try:
            if (await http.call("GET", "/healthz"))[0] == 200:
                return
        except aiohttp.ClientError:
            pass
        if loop.time() > deadline:
            pytest.fail(f"the service did not answer /healthz in 30 s:\n{_tail(log)}")
        await asyncio.sleep(0.1)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def server(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    async with run_service(database_url, request.module.__name__.rsplit(".", 1)[-1]) as found:
        yield found


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


def _require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    _require_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                    args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@dataclass
class Console:
    """One browser tab on the console, with what went wrong in it."""

    page: Page
    server: Server
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)

    async def sign_in(self, username: str, password: str) -> Page:
        page = self.page
        await page.get_by_label("Username").fill(username)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("heading", name="Tokens", level=1).wait_for()
        await page.get_by_role("status").filter(has_text="tokens shown").wait_for()
        return page

    async def shot(self, name: str, *, full_page: bool = False) -> Path:
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=path, full_page=full_page)
        return path


ConsoleFactory = Callable[..., Awaitable[Console]]


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
        console.page.on("pageerror", lambda exc: console.page_errors.append(str(exc)))
        console.page.on("console", lambda msg: console.csp_violations.append(msg.text)
                        if "Content Security Policy" in msg.text else None)

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
        # Whatever a test did, the page must not have thrown or broken its own policy.
        assert console.page_errors == [], console.page_errors
        assert console.csp_violations == [], console.csp_violations
        assert console.alerts == [], console.alerts


@pytest_asyncio.fixture(loop_scope="session")
async def console(console_factory: ConsoleFactory) -> Console:
    return await console_factory()
