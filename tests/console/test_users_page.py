"""The Users page in Chromium (admins): search, create, change, reset, delete; the last
admin kept with the API's own words."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.console import ADMIN, ALICE, insert_tokens, row_of

pytestmark = pytest.mark.asyncio(loop_scope="session")



async def open_users(console):
    page = await console.sign_in(*ADMIN)
    await page.get_by_role("link", name="Users").click()
    await expect(page.get_by_role("heading", name="Users", level=1)).to_be_visible()
    await expect(page.get_by_role("status").filter(has_text="users shown")).to_be_visible()
    return page


async def user_action(page, name: str, action: str) -> None:
    await row_of(page, name).get_by_role("button", name=f"Actions for {name}").click()
    await page.get_by_role("menuitem", name=action).click()


async def test_create_change_reset_and_delete_a_user(console, http, people, database_url):
    page = await open_users(console)
    await page.get_by_role("button", name="New user").click()
    dialog = page.get_by_role("dialog", name="New user")
    await expect(dialog).to_contain_text("8 to 1,024 characters")
    await dialog.get_by_label("Username").fill("carol")
    # Escape with something typed asks before anything is lost.
    await page.keyboard.press("Escape")
    prompt = dialog.get_by_role("alertdialog", name="Discard your changes?")
    await expect(prompt.get_by_role("button", name="Keep editing")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(prompt).to_be_hidden()
    await expect(dialog.get_by_label("Username")).to_have_value("carol")
    await dialog.get_by_label("Password").fill("short")
    await dialog.get_by_role("button", name="Create user").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("password")
    await dialog.get_by_label("Password").fill("carol-password-1")
    await dialog.get_by_role("checkbox", name="delete:pipes").uncheck()
    await expect(dialog.get_by_role("checkbox", name="write:users")).to_be_disabled()
    await dialog.get_by_role("button", name="Create user").click()
    await expect(dialog).to_be_hidden()
    await expect(row_of(page, "carol")).to_contain_text("read:pipes, write:pipes, read:tokens")
    admin = await http.bearer(*ADMIN)
    carol = (await http.call("GET", "/users?q=carol", headers=admin))[1]["items"][0]
    assert carol["type"] == "user"
    assert carol["scopes"] == ["read:pipes", "write:pipes", "read:tokens", "write:tokens"]

    await user_action(page, "carol", "Change type and scopes")
    change = page.get_by_role("dialog", name="Change carol")
    await expect(change.get_by_label("Username")).to_be_hidden()
    await change.get_by_role("checkbox", name="write:pipes").uncheck()
    await change.get_by_role("button", name="Save changes").click()
    await expect(change).to_be_hidden()
    await expect(row_of(page, "carol")).to_contain_text("read:pipes, read:tokens, write:tokens")

    await user_action(page, "carol", "Reset password")
    reset = page.get_by_role("dialog", name="Reset the password of carol")
    await reset.get_by_label("Password").fill("carol-password-2")
    await reset.get_by_role("button", name="Reset password").click()
    await expect(reset).to_be_hidden()
    await expect(page.get_by_role("status").filter(
        has_text="Reset the password of carol.")).to_be_visible()
    await http.bearer("carol", "carol-password-2")  # asserts 200

    await insert_tokens(database_url, "carol", ["carol-1", "carol-2"])
    await user_action(page, "carol", "Delete")
    confirm = page.get_by_role("dialog", name="Delete carol?")
    await expect(confirm).to_contain_text("their 2 tokens stop working at once")
    await expect(confirm).to_contain_text("without an owner")
    await confirm.get_by_role("button", name="Delete user").click()
    await expect(confirm).to_be_hidden()
    await expect(row_of(page, "carol")).to_have_count(0)
    tokens = (await http.call("GET", "/tokens?q=carol-", headers=admin))[1]["items"]
    assert [(t["user"], t["is_valid"]) for t in tokens] == [(None, False), (None, False)]


async def test_the_last_admin_is_kept_with_the_apis_message(console, http, people):
    page = await open_users(console)
    message = "This is the last admin; make another admin first."
    await user_action(page, "admin", "Change type and scopes")
    change = page.get_by_role("dialog", name="Change admin")
    await change.get_by_label("Type").select_option("user")
    await change.get_by_role("button", name="Save changes").click()
    await expect(change.get_by_role("alert")).to_have_text(message)
    await change.get_by_role("button", name="Cancel").click()

    await user_action(page, "admin", "Delete")
    confirm = page.get_by_role("dialog", name="Delete admin?")
    await confirm.get_by_role("button", name="Delete user").click()
    await expect(confirm.get_by_role("alert")).to_have_text(message)
    await confirm.get_by_role("button", name="Cancel").click()
    me = (await http.call("GET", "/users/me", headers=await http.bearer(*ADMIN)))[1]
    assert me["type"] == "admin"


async def test_search_users(console, http, people, settings):
    admin = await http.bearer(*ADMIN)
    for name in ("sensor-bot", "sensor-cam", "dave"):
        status, body = await http.call("POST", "/users", headers=admin,
                                       body={"username": name, "password": "long-enough-1"})
        assert status == 201, body
    page = await open_users(console)
    status = page.get_by_role("status").filter(has_text="users")
    await expect(status).to_have_text("1–5 of 5 users shown.")
    await page.get_by_role("searchbox", name="Search").fill("SENSOR")
    await expect(status).to_have_text("1–2 of 2 users shown.")
    await expect(page.get_by_role("rowheader")).to_have_text(["sensor-bot", "sensor-cam"])
    await page.get_by_role("searchbox", name="Search").fill("nobody")
    await expect(status).to_have_text("No users match.")


async def test_a_user_has_no_users_page(console, people):
    page = await console.sign_in(*ALICE)
    await expect(page.get_by_role("link", name="Users")).to_be_hidden()
    await page.evaluate("window.location.hash = '#/users'")
    await expect(page.get_by_role("heading", name="Tokens", level=1)).to_be_visible()
    await expect(page.get_by_role("heading", name="Users", level=1)).to_be_hidden()
