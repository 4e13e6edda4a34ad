"""The console's browser tests: Debian's Chromium, the service they drive, a tab on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Page

from service.config import PROJECT_ROOT
from tests.support.servers import Server, run_server_async

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


def console_service(database_url: str, name: str,
                    **env: str) -> AbstractAsyncContextManager[Server]:
    """`run_server_async` as the console tests run the service: ADMIN as its admin,
    last-used times in the table within a second (not a minute), and its output in
    test-artifacts/console/service-NAME.log."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return run_server_async(database_url, log=ARTIFACTS / f"service-{name}.log",
                            ADMIN_USERNAME=ADMIN[0], ADMIN_PASSWORD=ADMIN[1], ACCESS_LOG="0",
                            LAST_USED_FLUSH_SECONDS="1", **env)


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")


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
        await page.locator("#login-form").get_by_label("Username").fill(username)
        await page.locator("#login-form").get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("heading", name="Tokens", level=1).wait_for()
        await page.get_by_role("status").filter(has_text="tokens shown").wait_for()
        return page

    async def shot(self, name: str, *, full_page: bool = False) -> Path:
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=path, full_page=full_page)
        return path


ConsoleFactory = Callable[..., Awaitable[Console]]
