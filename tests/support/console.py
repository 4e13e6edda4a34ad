"""The console's browser tests: Debian's Chromium, the service they drive, a tab on it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from playwright.async_api import ConsoleMessage, Page

from service.auth import apikeys
from service.config import PROJECT_ROOT
from service.tokens import repo as tokens_repo
from service.users import repo as users_repo
from tests.support.servers import Server, run_server_async

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "console"
# Run in every page before its own scripts (Playwright's init script, outside the CSP):
# each violation the browser reports becomes a console error the tests collect.
REPORT_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`);
});
"""
# What Chromium logs for an API answer of 4xx: the console's expected refusals, not errors.
_REFUSED = re.compile(r"^Failed to load resource: the server responded with a status of 4\d\d")
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
    console_errors: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)

    def on_message(self, msg: ConsoleMessage) -> None:
        if "Content Security Policy" in msg.text:
            self.csp_violations.append(msg.text)
        elif msg.type == "error" and not _REFUSED.match(msg.text):
            self.console_errors.append(msg.text)

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


async def insert_tokens(database_url: str, username: str, labels: list[str], *,
                        scopes: tuple[str, ...] = ("read:pipes",),
                        expiration: datetime | None = None) -> list[uuid.UUID]:
    """Tokens straight into the table through the tokens repository: many in a blink,
    for the tests that need a long list (their secrets are thrown away)."""
    conn = await asyncpg.connect(database_url)
    try:
        owner = await users_repo.by_name(conn, username)
        made = []
        async with conn.transaction():
            for label in labels:
                token_id = uuid.uuid4()
                await tokens_repo.insert(conn, token_id=token_id, user_id=owner["id"],
                                         label=label,
                                         secret_hash=apikeys.hash_secret(apikeys.new_secret()),
                                         scopes=list(scopes), expiration=expiration)
                made.append(token_id)
        return made
    finally:
        await conn.close()


def inside(box: dict | None, viewport: dict) -> bool:
    """Whether an element's bounding box lies wholly inside the viewport."""
    return (box is not None and box["x"] >= 0 and box["y"] >= 0
            and box["x"] + box["width"] <= viewport["width"]
            and box["y"] + box["height"] <= viewport["height"])


# The tick that closes a dialog showing a new secret.
COPIED = "I have copied the secret and the API key"


def row_of(page, label: str):
    """The table row whose row header is exactly `label` (a token's label, a username)."""
    return page.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name=label, exact=True))
