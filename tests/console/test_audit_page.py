"""The Audit page in Chromium: the trail newest first with addresses, its filters, and a
user's own events only."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.console import ADMIN, ALICE

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def open_audit(console, who):
    page = await console.sign_in(*who)
    await page.get_by_role("link", name="Audit").click()
    await expect(page.get_by_role("heading", name="Audit", level=1)).to_be_visible()
    return page


def status(page):
    return page.get_by_role("status").filter(has_text="events")


async def test_the_trail_newest_first_with_filters(console, http, people):
    admin = await http.bearer(*ADMIN)
    alice = await http.bearer(*ALICE)
    first = await http.create_token(alice, label="first-token", scopes=["read:pipes"])
    await http.call("POST", f"/tokens/{first['id']}/invalidate", headers=admin)
    await http.create_token(admin, label="admins-token", scopes=["read:tokens"])

    page = await open_audit(console, ADMIN)
    view = page.get_by_role("region", name="Audit")
    await expect(status(page)).to_contain_text("events shown")
    rows = page.locator("#audit-body tr")
    kinds = await page.locator("#audit-body tr td:nth-child(2)").all_inner_texts()
    # Newest first: the admin's token after the invalidation after alice's token.
    order = [k for k in kinds if k.startswith("token.")]
    assert order == ["token.registered", "token.invalidated", "token.registered"], kinds
    await expect(rows.filter(has_text="token.invalidated")).to_contain_text("127.0.0.1")
    await expect(rows.filter(has_text="token.invalidated")).to_contain_text(first["id"])

    # The kinds offered are the API's own, every one of them.
    _, config = await http.call("GET", "/config")
    offered = await view.get_by_label("Kind").locator("option").all_inner_texts()
    assert offered[1:] == config["audit_kinds"] and "jwt.revoked" in offered
    await view.get_by_label("Kind").select_option("token.registered")
    await expect(status(page)).to_have_text("1–2 of 2 events shown.")
    await view.get_by_label("User", exact=True).fill("alice")
    await page.get_by_role("button", name="Apply").click()
    await expect(status(page)).to_have_text("1–1 of 1 events shown.")
    await expect(rows).to_contain_text("first-token")
    await view.get_by_label("Kind").select_option("")
    await view.get_by_label("User", exact=True).fill("")
    await view.get_by_label("Token (client ID)").fill(first["id"])
    await page.get_by_role("button", name="Apply").click()
    await expect(status(page)).to_have_text("1–2 of 2 events shown.")
    # Until a time long past: nothing.
    await view.get_by_label("Until").fill("2001-01-01T00:00")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.get_by_text("No event matches.")).to_be_visible()
    await view.get_by_label("Token (client ID)").fill("not-a-uuid")
    await view.get_by_label("Until").fill("")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.get_by_role("alert").filter(has_text="token")).to_be_visible()
    await console.shot("audit")


async def test_a_user_sees_her_own_events(console, http, people):
    await http.create_token(await http.bearer(*ADMIN), label="not-for-alice")
    await http.create_token(await http.bearer(*ALICE), label="alices")
    page = await open_audit(console, ALICE)
    view = page.get_by_role("region", name="Audit")
    await expect(page.get_by_text("Your events")).to_be_visible()
    await expect(view.get_by_label("User", exact=True)).to_be_hidden()
    await expect(status(page)).to_contain_text("events shown")
    body = page.locator("#audit-body")
    await expect(body).to_contain_text("alices")
    await expect(body).not_to_contain_text("not-for-alice")
    for name in await page.locator("#audit-body tr td:nth-child(3)").all_inner_texts():
        assert name.split("\n")[0] in {"alice", "—"}, name
