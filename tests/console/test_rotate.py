"""Rotate in the console (Chromium): the overlap asked, the new secret shown once, the old
key's end, the expiry warning and the addresses a token was used from."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from playwright.async_api import expect

from tests.support.console import ADMIN, COPIED, row_of

pytestmark = pytest.mark.asyncio(loop_scope="session")



async def status_with(base_url: str, api_key: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(
            base_url + "/users/me", headers={"Authorization": api_key}) as resp:
        return resp.status


async def test_rotate_asks_the_overlap_and_shows_the_new_secret_once(console, http, people):
    admin = await http.bearer(*ADMIN)
    soon = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    token = await http.create_token(admin, label="gateway", expiration=soon)
    await http.create_token(admin, label="yearly")
    assert await status_with(http.base_url, token["api_key"]) == 200  # a source to show
    page = await console.sign_in(*ADMIN)

    # The expiry warning: within TOKEN_EXPIRY_WARNING_DAYS (7), with how long is left.
    await expect(row_of(page, "gateway")).to_contain_text("Expires in 2 days")
    await expect(row_of(page, "yearly")).not_to_contain_text("Expires in")
    # Where it was used (the flush runs every second in these tests).
    sources = row_of(page, "gateway").get_by_text("From 1 address")
    deadline = time.monotonic() + 10
    while not await sources.count():
        assert time.monotonic() < deadline, "the token's source was never shown"
        await page.get_by_role("button", name="Refresh").click()
        await page.get_by_role("status").filter(has_text="tokens shown").wait_for()
    await sources.click()
    await expect(row_of(page, "gateway").get_by_role("list")).to_contain_text("127.0.0.1")

    await row_of(page, "gateway").get_by_role("button", name="Actions for gateway").click()
    await page.get_by_role("menu").get_by_role("menuitem", name="Rotate").click()
    ask = page.get_by_role("dialog", name="Rotate “gateway”")
    await expect(ask).to_be_visible()
    overlap = ask.get_by_label("Old secret keeps working for")
    await expect(overlap).to_be_focused()
    await expect(overlap).to_have_value("3600")
    await overlap.select_option(label="1 day")
    await ask.get_by_role("button", name="Rotate").click()

    shown = page.get_by_role("dialog", name="Token rotated")
    await expect(shown).to_be_visible()
    await expect(shown).to_contain_text("shown only this once")
    await expect(shown).to_contain_text("The old secret works until")
    secret = await shown.get_by_role("group", name="Client Secret").locator("code").inner_text()
    api_key = await shown.get_by_role("group", name="API Key").locator("code").inner_text()
    assert secret != token["secret"] and api_key.startswith("mrsm-key:")
    for button, value, words in (("Copy client secret", secret, "client secret"),
                                 ("Copy API key", api_key, "API key")):
        await shown.get_by_role("button", name=button).click()
        await expect(shown.get_by_role("status")).to_have_text(f"Copied the {words}.")
        assert await page.evaluate("navigator.clipboard.readText()") == value
    await console.shot("rotated-dialog")
    await page.keyboard.press("Escape")
    await expect(shown).to_be_visible()  # not closed before the secret is copied
    await expect(shown.get_by_role("button", name="Done")).to_be_disabled()
    await shown.get_by_role("checkbox", name=COPIED).check()
    await shown.get_by_role("button", name="Done").click()
    await expect(shown).to_be_hidden()
    await expect(page.get_by_role("button", name="Actions for gateway")).to_be_focused()
    # The secret left the page with the dialog.
    assert secret not in await page.content()

    assert await status_with(http.base_url, api_key) == 200
    assert await status_with(http.base_url, token["api_key"]) == 200  # the overlap
    _, stored = await http.call("GET", f"/tokens/{token['id']}", headers=admin)
    left = datetime.fromisoformat(stored["previous_secret_expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=23) < left <= timedelta(days=1)


async def test_rotate_with_no_overlap_ends_the_old_key(console, http, people):
    admin = await http.bearer(*ADMIN)
    token = await http.create_token(admin, label="leaky")
    page = await console.sign_in(*ADMIN)
    await row_of(page, "leaky").get_by_role("button", name="Actions for leaky").click()
    await page.get_by_role("menu").get_by_role("menuitem", name="Rotate").click()
    ask = page.get_by_role("dialog", name="Rotate “leaky”")
    await ask.get_by_label("Old secret keeps working for").select_option("0")
    await ask.get_by_role("button", name="Rotate").click()
    shown = page.get_by_role("dialog", name="Token rotated")
    await expect(shown).to_contain_text("The old secret no longer works.")
    assert await status_with(http.base_url, token["api_key"]) == 401
    await shown.get_by_role("checkbox", name=COPIED).check()
    await shown.get_by_role("button", name="Done").click()
    # An invalidated token offers no Rotate.
    await http.call("POST", f"/tokens/{token['id']}/invalidate", headers=admin)
    await page.get_by_role("button", name="Refresh").click()
    await row_of(page, "leaky").get_by_role("button", name="Actions for leaky").click()
    menu = page.get_by_role("menu")
    await expect(menu.get_by_role("menuitem", name="Edit")).to_be_visible()
    await expect(menu.get_by_role("menuitem", name="Rotate")).to_be_hidden()
    assert console.page_errors == [] and console.csp_violations == []
