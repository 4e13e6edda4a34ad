"""Settings > Tokens in Chromium: least privilege in New token, dialogs that fit, search,
filters, sort and pages served by the API, expiry badges."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import expect

from tests.support.console import ADMIN, ALICE, insert_tokens, inside, row_of

pytestmark = pytest.mark.asyncio(loop_scope="session")

DESKTOP = {"width": 1280, "height": 720}
PHONE = {"width": 390, "height": 700}



async def test_new_token_starts_with_no_scope_and_create_waits_for_one(console, http, people):
    page = await console.sign_in(*ADMIN)
    await page.get_by_role("button", name="New token").click()
    dialog = page.get_by_role("dialog", name="New token")
    scopes = dialog.locator("#scope-list").get_by_role("checkbox")
    await expect(scopes).to_have_count(7)  # an admin holds every scope
    for i in range(7):
        await expect(scopes.nth(i)).not_to_be_checked()
    create = dialog.get_by_role("button", name="Create token")
    await expect(create).to_be_disabled()

    # The expiration is the instance's default (GET /config), never "Never expires".
    config = (await http.call("GET", "/config"))[1]
    default = datetime.now(UTC) + timedelta(days=config["token_default_ttl_days"])
    value = await dialog.get_by_label("Expiration").input_value()
    assert value[:10] == default.strftime("%Y-%m-%d"), value
    await expect(dialog.get_by_role("checkbox", name="Never expires")).not_to_be_checked()

    # Admin-only scopes say so, and ticking one warns in a line.
    warning = dialog.locator("#admin-scope-warning")
    await expect(dialog.get_by_text("admins only", exact=True)).to_have_count(2)
    await expect(warning).to_be_hidden()
    await dialog.get_by_role("checkbox", name="read:users").check()
    await expect(warning).to_have_text(
        "read:users: whoever holds this token can list users and read every audit event.")
    await dialog.get_by_role("checkbox", name="write:users").check()
    await expect(warning).to_have_text("read:users and write:users: whoever holds this token "
                                       "can create, change and delete users.")
    await expect(create).to_be_enabled()
    await dialog.get_by_role("checkbox", name="write:users").uncheck()
    await dialog.get_by_role("checkbox", name="read:users").uncheck()
    await expect(warning).to_be_hidden()
    await expect(create).to_be_disabled()

    await dialog.get_by_label("Label").fill("least")
    await dialog.get_by_role("checkbox", name="read:pipes").check()
    await create.click()
    created = page.get_by_role("dialog", name="Token created")
    client_id = await created.get_by_role("group", name="Client ID").locator("code").inner_text()
    token = (await http.call("GET", f"/tokens/{client_id}",
                             headers=await http.bearer(*ADMIN)))[1]
    assert token["scopes"] == ["read:pipes"]
    made = datetime.fromisoformat(token["expiration"])
    assert abs(made - default) < timedelta(minutes=2)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x720", "390x700"])
async def test_dialog_title_and_buttons_stay_inside_the_window(console_factory, http, people,
                                                                viewport):
    await http.create_token(await http.bearer(*ADMIN), label="fit-check", scopes=["read:pipes"])
    console = await console_factory(viewport=viewport)
    page = await console.sign_in(*ADMIN)

    async def assert_fits(dialog, title: str, buttons: list[str]) -> None:
        await expect(dialog).to_be_visible()
        for locator in [dialog.get_by_role("heading", name=title),
                        *(dialog.get_by_role("button", name=b, exact=True) for b in buttons)]:
            assert inside(await locator.bounding_box(), viewport), (title, locator)
        assert inside(await dialog.bounding_box(), viewport)

    await page.get_by_role("button", name="New token").click()
    dialog = page.get_by_role("dialog", name="New token")
    await dialog.get_by_role("checkbox", name="write:users").check()  # the longest form
    await assert_fits(dialog, "New token", ["Cancel", "Create token"])
    # The body scrolls to its end and the buttons are still there.
    await dialog.get_by_role("checkbox", name="write:users").scroll_into_view_if_needed()
    await assert_fits(dialog, "New token", ["Cancel", "Create token"])
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()

    await row_of(page, "fit-check").get_by_role("button", name="Actions for fit-check").click()
    await page.get_by_role("menuitem", name="Edit").click()
    await assert_fits(page.get_by_role("dialog", name="Edit token"), "Edit token",
                      ["Cancel", "Save changes"])
    await page.get_by_role("dialog", name="Edit token").get_by_role("button",
                                                                    name="Cancel").click()
    await row_of(page, "fit-check").get_by_role("button", name="Actions for fit-check").click()
    await page.get_by_role("menuitem", name="Delete").click()
    await assert_fits(page.get_by_role("dialog", name="Delete this token?"),
                      "Delete this token?", ["Cancel", "Delete token"])
    await page.keyboard.press("Escape")

    await page.get_by_role("link", name="Users").click()
    await page.get_by_role("button", name="New user").click()
    await assert_fits(page.get_by_role("dialog", name="New user"), "New user",
                      ["Cancel", "Create user"])
    await console.shot(f"new-user-dialog-{viewport['width']}")


async def test_escape_asks_before_typed_input_is_lost(console, people):
    page = await console.sign_in(*ALICE)
    new = page.get_by_role("button", name="New token")
    await new.click()
    dialog = page.get_by_role("dialog", name="New token")
    await page.keyboard.press("Escape")  # nothing typed: closes at once
    await expect(dialog).to_be_hidden()
    await expect(new).to_be_focused()

    await new.click()
    await dialog.get_by_label("Label").fill("half-typed")
    await dialog.get_by_role("checkbox", name="read:pipes").check()
    prompt = dialog.get_by_role("alertdialog", name="Discard your changes?")
    for _ in range(3):  # Chromium lets a repeated Escape through; the dialog stays anyway
        await page.keyboard.press("Escape")
        await expect(dialog).to_be_visible()
        await expect(prompt).to_be_visible()
        await expect(prompt.get_by_role("button", name="Keep editing")).to_be_focused()
    await prompt.get_by_role("button", name="Keep editing").click()
    await expect(prompt).to_be_hidden()
    await expect(dialog.get_by_label("Label")).to_have_value("half-typed")
    await expect(dialog.get_by_role("checkbox", name="read:pipes")).to_be_checked()

    await page.keyboard.press("Escape")
    await prompt.get_by_role("button", name="Discard changes").click()
    await expect(dialog).to_be_hidden()
    await expect(new).to_be_focused()
    await new.click()
    await expect(dialog.get_by_label("Label")).to_have_value("")
    await expect(prompt).to_be_hidden()


async def test_search_filters_sort_and_pages_among_150_tokens(console, http, people,
                                                             database_url):
    soon = datetime.now(UTC) + timedelta(days=3, hours=1)
    await insert_tokens(database_url, "alice", [f"sensor-{i:03d}" for i in range(148)])
    await insert_tokens(database_url, "alice", ["the-needle"], scopes=("write:pipes",),
                        expiration=soon)
    await insert_tokens(database_url, "admin", ["admins-own"], scopes=("read:tokens",))
    page = await console.sign_in(*ADMIN)
    status = page.get_by_role("status").filter(has_text="tokens")
    pager = page.get_by_role("navigation", name="Token pages")
    await expect(status).to_have_text("1–50 of 150 tokens shown.")
    await expect(pager).to_contain_text("1–50 of 150 tokens · page 1 of 3")
    await expect(page.get_by_role("rowheader")).to_have_count(50)
    await pager.get_by_role("button", name="Next page").click()
    await expect(pager).to_contain_text("51–100 of 150 tokens · page 2 of 3")
    await pager.get_by_role("button", name="Next page").click()
    await expect(pager).to_contain_text("101–150 of 150 tokens · page 3 of 3")
    await expect(pager.get_by_role("button", name="Next page")).to_be_disabled()

    search = page.get_by_role("searchbox", name="Search")
    await search.fill("NEEDLE")
    await search.press("Enter")
    await expect(status).to_have_text("1–1 of 1 tokens shown.")
    needle = row_of(page, "the-needle")
    await expect(needle).to_contain_text("Expires in 3 days")  # the badge
    await expect(pager).to_be_hidden()  # one page: the status says it all

    # The client ID's start finds it too; the owner's name finds all of hers.
    client_id = await needle.locator("code").inner_text()
    await search.fill(client_id[:8])
    await expect(status).to_have_text("1–1 of 1 tokens shown.")
    await search.fill("alice")
    await expect(status).to_have_text("1–50 of 149 tokens shown.")
    await search.fill("")
    await page.get_by_label("State").select_option("expiring_soon")
    await expect(status).to_have_text("1–1 of 1 tokens shown.")
    await expect(needle).to_be_visible()
    await page.get_by_label("State").select_option("")
    await page.get_by_label("Scope").select_option("read:tokens")
    await expect(status).to_have_text("1–1 of 1 tokens shown.")
    await expect(row_of(page, "admins-own")).to_be_visible()
    await page.get_by_label("Scope").select_option("")
    await page.get_by_label("Owner").fill("admin")
    await expect(status).to_have_text("1–1 of 1 tokens shown.")
    await page.get_by_label("Owner").fill("")
    await expect(status).to_have_text("1–50 of 150 tokens shown.")
    await page.get_by_label("Sort by").select_option("expires:asc")
    await expect(page.get_by_role("rowheader").first).to_have_text("the-needle")
    await search.fill("no-such-token")
    await expect(page.get_by_text("No token matches these filters.")).to_be_visible()
    await console.shot("tokens-search")


async def test_a_users_search_stays_within_her_tokens(console, http, people, database_url):
    await insert_tokens(database_url, "admin", ["admin-secret-thing"])
    await insert_tokens(database_url, "alice", ["alice-thing"])
    page = await console.sign_in(*ALICE)
    await expect(page.get_by_label("Owner")).to_be_hidden()
    await page.get_by_role("searchbox", name="Search").fill("thing")
    status = page.get_by_role("status").filter(has_text="tokens")
    await expect(status).to_have_text("1–1 of 1 tokens shown.")
    await expect(page.get_by_text("admin-secret-thing")).to_have_count(0)


async def test_details_show_the_token_and_leave_room_for_more(console, http, people):
    await http.create_token(await http.bearer(*ALICE), label="detailed",
                            scopes=["read:pipes"], rate_limit=60, allowed_cidrs=["10.0.0.0/8"])
    page = await console.sign_in(*ALICE)
    await row_of(page, "detailed").get_by_role("button", name="Actions for detailed").click()
    await page.get_by_role("menuitem", name="Details").click()
    details = page.get_by_role("dialog", name="Token “detailed”")
    await expect(details).to_contain_text("60 requests a minute")
    await expect(details).to_contain_text("10.0.0.0/8")
    await expect(details.get_by_role("button", name="Close")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(details).to_be_hidden()
    await expect(page.get_by_role("button", name="Actions for detailed")).to_be_focused()


async def test_the_violation_collector_sees_a_violation(console, people):
    """The fixture's CSP check is not vacuous: a blocked load is reported and collected."""
    page = console.page
    await page.evaluate("""() => { const img = document.createElement('img');
        img.src = 'https://example.invalid/x.png'; document.body.append(img); }""")
    await page.wait_for_function("() => document.querySelector('img').complete")
    deadline = asyncio.get_running_loop().time() + 5
    while not console.csp_violations and asyncio.get_running_loop().time() < deadline:
        await page.evaluate("() => new Promise((r) => setTimeout(r, 50))")
    assert "img-src" in " ".join(console.csp_violations), console.csp_violations
    console.csp_violations.clear()
    console.console_errors.clear()
