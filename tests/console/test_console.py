"""The console in Chromium, driven as a screen reader would: by role and accessible name."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.support.console import ADMIN, ALICE, COPIED, console_service, row_of

pytestmark = pytest.mark.asyncio(loop_scope="session")



async def secret_text(dialog, name: str) -> str:
    return await dialog.get_by_role("group", name=name).locator("code").inner_text()



async def open_menu(page, label: str):
    await row_of(page, label).get_by_role("button", name=f"Actions for {label}").click()
    menu = page.get_by_role("menu")
    await expect(menu).to_be_visible()
    return menu


async def close_created(page) -> None:
    created = page.get_by_role("dialog", name="Token created")
    await created.get_by_role("checkbox", name=COPIED).check()
    await created.get_by_role("button", name="Done").click()
    await expect(created).to_be_hidden()


async def test_token_lifecycle_create_use_edit_invalidate_delete(console, http, people):
    page = await console.sign_in(*ADMIN)
    await expect(page.get_by_text("No tokens yet")).to_be_visible()

    await page.get_by_role("button", name="New token").click()
    dialog = page.get_by_role("dialog", name="New token")
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("Label").fill("weather-station")
    await dialog.get_by_role("checkbox", name="read:pipes").check()
    await dialog.get_by_role("checkbox", name="read:tokens").check()
    await dialog.get_by_role("button", name="Create token").click()

    created = page.get_by_role("dialog", name="Token created")
    await expect(created).to_be_visible()
    await expect(created).to_contain_text("shown only this once")
    client_id = await secret_text(created, "Client ID")
    secret = await secret_text(created, "Client Secret")
    api_key = await secret_text(created, "API Key")
    assert re.fullmatch(r"[0-9a-f-]{36}", client_id)
    assert api_key.startswith("mrsm-key:")
    for button, value, words in (("Copy client ID", client_id, "client ID"),
                                 ("Copy client secret", secret, "client secret"),
                                 ("Copy API key", api_key, "API key")):
        await created.get_by_role("button", name=button).click()
        await expect(created.get_by_role("status")).to_have_text(f"Copied the {words}.")
        assert await page.evaluate("navigator.clipboard.readText()") == value
    await console.shot("creation-dialog")

    # Not closed by accident: Escape (twice: Chrome lets a second one through) and the backdrop.
    await page.keyboard.press("Escape")
    await page.keyboard.press("Escape")
    await page.mouse.click(5, 5)
    await expect(created).to_be_visible()
    done = created.get_by_role("button", name="Done")
    await expect(done).to_be_disabled()
    await created.get_by_role("checkbox", name=COPIED).check()
    await done.click()
    await expect(created).to_be_hidden()
    assert secret not in await page.content()  # the secret left the page with the dialog

    row = row_of(page, "weather-station")
    await expect(row).to_contain_text(client_id)
    await expect(row).to_contain_text("read:pipes, read:tokens")
    await expect(row).to_contain_text("Valid")
    await expect(page.get_by_role("columnheader", name="Owner")).to_be_visible()

    # The API key from the dialog works, and so do the Client ID and Secret.
    key = {"Authorization": api_key}
    status, me = await http.call("GET", "/users/me", headers=key)
    assert status == 200, me
    assert me["token"]["id"] == client_id
    assert me["scopes"] == ["read:pipes", "read:tokens"]
    assert (await http.call("GET", "/tokens", headers=key))[0] == 200
    status, grant = await http.call("POST", "/login", form={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    assert status == 200, grant

    # Last used shows up once the service has recorded the use (it flushes every second).
    await expect(row).to_contain_text("Not yet")
    for _ in range(50):
        await page.get_by_role("button", name="Refresh").click()
        await expect(page.get_by_role("status").first).to_contain_text("tokens shown")
        if "Not yet" not in await row.inner_text():
            break
        await page.wait_for_timeout(200)
    await expect(row).not_to_contain_text("Not yet")
    await console.shot("token-table")

    # Edit: drop read:tokens. Only the scopes are sent, so the expiration stays as it was.
    admin = await http.bearer(*ADMIN)
    before = (await http.call("GET", f"/tokens/{client_id}", headers=admin))[1]
    await (await open_menu(page, "weather-station")).get_by_role("menuitem", name="Edit").click()
    edit = page.get_by_role("dialog", name="Edit token")
    await expect(edit.get_by_label("Label")).to_have_value("weather-station")
    await expect(edit.get_by_role("checkbox", name="read:tokens")).to_be_checked()
    await expect(edit.get_by_role("checkbox", name="write:pipes")).not_to_be_checked()
    await edit.get_by_role("checkbox", name="read:tokens").uncheck()
    await edit.get_by_role("button", name="Save changes").click()
    await expect(edit).to_be_hidden()
    await expect(row.get_by_role("cell", name="read:pipes", exact=True)).to_be_visible()
    after = (await http.call("GET", f"/tokens/{client_id}", headers=admin))[1]
    assert after["scopes"] == ["read:pipes"]
    assert after["expiration"] == before["expiration"]
    assert (await http.call("GET", "/tokens", headers=key))[0] == 403
    assert (await http.call("GET", "/users/me", headers=key))[0] == 200

    # Invalidate: Cancel changes nothing; Confirm stops the key.
    menu = await open_menu(page, "weather-station")
    await menu.get_by_role("menuitem", name="Invalidate").click()
    confirm = page.get_by_role("dialog", name="Invalidate this token?")
    await expect(confirm).to_contain_text("weather-station")
    await confirm.get_by_role("button", name="Cancel").click()
    await expect(confirm).to_be_hidden()
    assert (await http.call("GET", "/users/me", headers=key))[0] == 200
    menu = await open_menu(page, "weather-station")
    await menu.get_by_role("menuitem", name="Invalidate").click()
    await confirm.get_by_role("button", name="Invalidate token").click()
    await expect(confirm).to_be_hidden()
    await expect(row).to_contain_text("Invalidated")
    assert (await http.call("GET", "/users/me", headers=key))[0] == 401

    # Invalidate is offered only while the token is valid; Delete removes it.
    menu = await open_menu(page, "weather-station")
    await expect(menu.get_by_role("menuitem", name="Invalidate")).to_be_hidden()
    await menu.get_by_role("menuitem", name="Delete").click()
    confirm = page.get_by_role("dialog", name="Delete this token?")
    await confirm.get_by_role("button", name="Delete token").click()
    await expect(row).to_have_count(0)
    await expect(page.get_by_text("No tokens yet")).to_be_visible()
    assert (await http.call("GET", f"/tokens/{client_id}", headers=admin))[0] == 404


async def test_users_see_only_their_own_tokens_and_admins_see_every_owner(
        console, http, people):
    await http.create_token(await http.bearer(*ADMIN), label="admin-only")
    await http.create_token(await http.bearer(*ALICE), label="alice-sensor")

    page = await console.sign_in(*ALICE)
    await expect(row_of(page, "alice-sensor")).to_be_visible()
    await expect(page.get_by_role("rowheader")).to_have_count(1)
    await expect(page.get_by_text("admin-only")).to_have_count(0)
    await expect(page.get_by_role("columnheader", name="Owner")).to_be_hidden()
    await expect(page.get_by_text("Signed in as alice (user)")).to_be_visible()

    # A user is offered only the scopes she holds (no admin scopes), none of them ticked.
    await page.get_by_role("button", name="New token").click()
    dialog = page.get_by_role("dialog", name="New token")
    await expect(dialog.get_by_role("checkbox", name="read:pipes")).not_to_be_checked()
    await expect(dialog.get_by_role("checkbox", name="read:users")).to_have_count(0)
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    await expect(page.get_by_role("button", name="New token")).to_be_focused()

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await expect(page.get_by_role("table")).to_be_hidden()
    assert await page.evaluate("sessionStorage.length") == 0

    page = await console.sign_in(*ADMIN)
    await expect(page.get_by_role("rowheader")).to_have_count(2)
    # A reload keeps the session (sessionStorage, this tab only); the Tokens link leads back.
    await page.reload()
    await expect(page.get_by_text("Signed in as admin (admin)")).to_be_visible()
    await page.get_by_role("link", name="Tokens").click()
    await expect(page.get_by_role("heading", name="Tokens", level=1)).to_be_visible()
    assert await page.evaluate("document.cookie") == ""
    await expect(row_of(page, "alice-sensor").get_by_role("cell", name="alice", exact=True)
                 ).to_be_visible()
    await expect(row_of(page, "admin-only").get_by_role("cell", name="admin", exact=True)
                 ).to_be_visible()


async def test_a_label_with_html_is_shown_as_text(console, http, people):
    label = "<img src=x onerror=alert(1)>"
    await http.create_token(await http.bearer(*ADMIN), label=label)
    page = await console.sign_in(*ADMIN)
    await expect(page.get_by_role("rowheader", name=label, exact=True)).to_have_text(label)
    assert await page.locator("img").count() == 0
    await (await open_menu(page, label)).get_by_role("menuitem", name="Edit").click()
    edit = page.get_by_role("dialog", name="Edit token")
    await expect(edit.get_by_label("Label")).to_have_value(label)
    await edit.get_by_role("button", name="Cancel").click()
    await (await open_menu(page, label)).get_by_role("menuitem", name="Delete").click()
    confirm = page.get_by_role("dialog", name="Delete this token?")
    await expect(confirm).to_contain_text(f"“{label}”")
    await confirm.get_by_role("button", name="Cancel").click()
    assert await page.locator("img").count() == 0
    # The console fixture also checks that no alert() ran and no script error happened.


async def test_expiration_is_picked_in_local_time_and_sent_in_utc(console_factory, http,
                                                                   people):
    console = await console_factory(timezone_id="Asia/Kolkata")  # UTC+05:30, no summer time
    page = await console.sign_in(*ALICE)
    await expect(page.get_by_text("Times are in your time zone, Asia/")).to_be_visible()

    await page.get_by_role("button", name="New token").click()
    dialog = page.get_by_role("dialog", name="New token")
    await dialog.get_by_label("Label").fill("noon-in-india")
    await dialog.get_by_label("Expiration").fill("2030-01-01T12:00")
    await dialog.get_by_role("checkbox", name="read:pipes").check()
    await dialog.get_by_role("button", name="Create token").click()
    client_id = await secret_text(page.get_by_role("dialog", name="Token created"), "Client ID")
    await close_created(page)

    alice = await http.bearer(*ALICE)
    token = (await http.call("GET", f"/tokens/{client_id}", headers=alice))[1]
    assert token["expiration"] == "2030-01-01T06:30:00Z"
    await expect(row_of(page, "noon-in-india")).to_contain_text("Jan 1, 2030, 12:00 PM")

    # The edit dialog shows the stored UTC time in local time again; Never expires sends null.
    await (await open_menu(page, "noon-in-india")).get_by_role("menuitem", name="Edit").click()
    edit = page.get_by_role("dialog", name="Edit token")
    await expect(edit.get_by_label("Expiration")).to_have_value("2030-01-01T12:00")
    await edit.get_by_role("checkbox", name="Never expires").check()
    await expect(edit.get_by_label("Expiration")).to_be_disabled()
    await edit.get_by_role("button", name="Save changes").click()
    await expect(edit).to_be_hidden()
    await expect(row_of(page, "noon-in-india").get_by_role("cell", name="Never", exact=True)
                 ).to_be_visible()
    assert (await http.call("GET", f"/tokens/{client_id}", headers=alice))[1]["expiration"] is None


async def test_api_errors_are_shown_in_words_next_to_the_action(console, http, people):
    page = console.page
    await page.locator("#login-form").get_by_label("Username").fill("alice")
    await page.locator("#login-form").get_by_label("Password").fill("not-her-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("The username or password is wrong.")
    await expect(page.locator("#login-form").get_by_label("Username")).to_have_value("alice")

    await http.create_token(await http.bearer(*ALICE), label="taken")
    page = await console.sign_in(*ALICE)
    await page.get_by_role("button", name="New token").click()
    dialog = page.get_by_role("dialog", name="New token")
    await dialog.get_by_label("Label").fill("taken")
    await dialog.get_by_role("checkbox", name="read:pipes").check()
    await dialog.get_by_role("button", name="Create token").click()
    await expect(dialog.get_by_role("alert")).to_have_text(
        "alice already has a token labelled 'taken'.")
    await expect(dialog.get_by_label("Label")).to_have_value("taken")  # nothing typed is lost

    await dialog.get_by_label("Label").fill("from-the-past")
    await dialog.get_by_label("Expiration").fill("2001-01-01T00:00")
    await dialog.get_by_role("button", name="Create token").click()
    await expect(dialog.get_by_role("alert")).to_contain_text(
        "The expiration is not allowed: must be in the future.")

    await dialog.get_by_label("Expiration").fill("")
    await dialog.get_by_role("button", name="Create token").click()
    await expect(dialog.get_by_role("alert")).to_have_text(
        "Choose an expiration date and time, or tick Never expires.")
    await expect(dialog).to_be_visible()


async def test_an_ended_session_asks_to_sign_in_again_and_keeps_what_was_typed(
        console, http, people):
    page = await console.sign_in(*ALICE)
    await page.get_by_role("button", name="New token").click()
    dialog = page.get_by_role("dialog", name="New token")
    await dialog.get_by_label("Label").fill("typed-before-expiry")
    await dialog.get_by_role("checkbox", name="read:pipes").check()

    # An admin changes alice's password: every JWT she had stops working (401).
    status, body = await http.call("PATCH", "/users/alice", headers=await http.bearer(*ADMIN),
                                   body={"password": "alice-new-password"})
    assert status == 200, body
    await dialog.get_by_role("button", name="Create token").click()

    again = page.get_by_role("dialog", name="Sign in again")
    await expect(again).to_be_visible()
    await expect(again.get_by_label("Username")).to_have_value("alice")
    await again.get_by_label("Password").fill(ALICE[1])
    await again.get_by_role("button", name="Sign in").click()
    await expect(again.get_by_role("alert")).to_have_text("The username or password is wrong.")
    await again.get_by_label("Password").fill("alice-new-password")
    await again.get_by_role("button", name="Sign in").click()
    await expect(again).to_be_hidden()

    # The request that met the 401 went through with what had been typed.
    created = page.get_by_role("dialog", name="Token created")
    await expect(created).to_be_visible()
    client_id = await secret_text(created, "Client ID")
    new_alice = await http.bearer("alice", "alice-new-password")
    token = (await http.call("GET", f"/tokens/{client_id}", headers=new_alice))[1]
    assert token["label"] == "typed-before-expiry"
    assert token["scopes"] == ["read:pipes"]


async def test_sign_out_from_the_sign_in_again_dialog(console, http, people):
    page = await console.sign_in(*ALICE)
    await http.call("PATCH", "/users/alice", headers=await http.bearer(*ADMIN),
                    body={"password": "alice-new-password"})
    await page.get_by_role("button", name="Refresh").click()
    again = page.get_by_role("dialog", name="Sign in again")
    await expect(again).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(again).to_be_visible()  # only signing in or out closes it
    await again.get_by_role("button", name="Sign out").click()
    await expect(again).to_be_hidden()
    await expect(page.get_by_role("dialog")).to_have_count(0)
    await expect(page.get_by_role("table")).to_be_hidden()
    await expect(page.locator("#login-form").get_by_label("Username")).to_be_editable()
    await console.sign_in("alice", "alice-new-password")


async def test_keyboard_only_on_a_narrow_screen(console_factory, http, people):
    await http.create_token(await http.bearer(*ALICE), label="phone-made")
    console = await console_factory(viewport={"width": 390, "height": 844})
    page = console.page
    keys = page.keyboard

    await expect(page.locator("#login-form").get_by_label("Username")).to_be_focused()
    await keys.type(ALICE[0])
    await keys.press("Tab")
    await keys.type(ALICE[1])
    await keys.press("Enter")
    await expect(row_of(page, "phone-made")).to_be_visible()

    async def tab_to(target, *, limit: int = 30) -> None:
        for _ in range(limit):
            await keys.press("Tab")
            if await target.evaluate("node => node === document.activeElement"):
                return
        raise AssertionError(f"Tab never reached {target}")

    await tab_to(page.get_by_role("button", name="New token"))
    await keys.press("Enter")
    dialog = page.get_by_role("dialog", name="New token")
    await expect(dialog.get_by_label("Label")).to_be_focused()
    await keys.type("keyboard-made")
    await tab_to(dialog.get_by_role("checkbox", name="read:pipes"))
    await keys.press("Space")
    await tab_to(dialog.get_by_label("Label"))
    await keys.press("Enter")  # submits the form
    created = page.get_by_role("dialog", name="Token created")
    await expect(created).to_be_visible()
    await console.shot("creation-dialog-narrow")
    await tab_to(created.get_by_role("checkbox", name=COPIED))
    await keys.press("Space")
    await keys.press("Tab")
    await expect(created.get_by_role("button", name="Done")).to_be_focused()
    await keys.press("Enter")
    await expect(created).to_be_hidden()

    await expect(row_of(page, "keyboard-made")).to_be_visible()
    await tab_to(page.get_by_role("button", name="Actions for keyboard-made"))
    await keys.press("Enter")
    await expect(page.get_by_role("menuitem", name="Details")).to_be_focused()
    await keys.press("ArrowDown")
    await expect(page.get_by_role("menuitem", name="Edit")).to_be_focused()
    await keys.press("ArrowDown")
    await expect(page.get_by_role("menuitem", name="Invalidate")).to_be_focused()
    await keys.press("Enter")
    confirm = page.get_by_role("dialog", name="Invalidate this token?")
    await expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    await keys.press("Tab")
    await keys.press("Enter")
    await expect(row_of(page, "keyboard-made")).to_contain_text("Invalidated")

    # Usable at 390 px: nothing sticks out sideways; each row is a labelled card.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await expect(row_of(page, "keyboard-made").get_by_role(
        "button", name="Actions for keyboard-made")).to_be_in_viewport()
    await console.shot("token-table-narrow", full_page=True)


async def test_never_expires_is_not_offered_when_the_policy_forbids_it(
        console_factory, database_url, people):
    async with console_service(database_url, "max-ttl", TOKEN_MAX_TTL_DAYS="30") as limited:
        console = await console_factory(target=limited)
        page = await console.sign_in(*ALICE)
        await page.get_by_role("button", name="New token").click()
        dialog = page.get_by_role("dialog", name="New token")
        await expect(dialog.get_by_role("checkbox", name="Never expires")).to_be_hidden()
        await expect(dialog).to_contain_text("Tokens must expire within 30 days.")
        await dialog.get_by_label("Expiration").fill("2099-01-01T00:00")
        await dialog.get_by_role("checkbox", name="read:pipes").check()
        await dialog.get_by_role("button", name="Create token").click()
        await expect(dialog.get_by_role("alert")).to_contain_text("must be within 30 days")
        await dialog.get_by_role("button", name="Cancel").click()
        await expect(dialog).to_be_hidden()
