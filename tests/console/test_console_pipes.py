"""The token dialog's optional "Limit to pipes" field, in Chromium."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.console import ALICE, COPIED, row_of

pytestmark = pytest.mark.asyncio(loop_scope="session")




async def test_limit_to_pipes_on_create_and_edit(console, http, people):
    page = await console.sign_in(*ALICE)
    await page.get_by_role("button", name="New token").click()
    dialog = page.get_by_role("dialog", name="New token")
    await dialog.get_by_label("Label").fill("greenhouse")
    await dialog.get_by_role("checkbox", name="write:pipes").check()
    field = dialog.get_by_label("Limit to pipes (optional)")
    await expect(field).to_have_value("")
    # A malformed pattern: the service's words, next to the form, and nothing created.
    await field.fill("mqtt:garden")
    await dialog.get_by_role("button", name="Create token").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("is not a pipe pattern")
    await field.fill("mqtt:garden/*/*\nmqtt:garden/temperature/-, mqtt:garden/*/*")
    await dialog.get_by_role("button", name="Create token").click()
    created = page.get_by_role("dialog", name="Token created")
    await created.get_by_role("checkbox", name=COPIED).check()
    await created.get_by_role("button", name="Done").click()
    row = row_of(page, "greenhouse")
    await expect(row).to_contain_text("Pipes: mqtt:garden/*/*, mqtt:garden/temperature/-")
    alice = await http.bearer(*ALICE)
    [token] = (await http.call("GET", "/tokens", headers=alice))[1]["items"]
    assert token["pipes"] == ["mqtt:garden/*/*", "mqtt:garden/temperature/-"]

    # Edit: the field shows the patterns, one per line; saving untouched sends no pipes.
    await row.get_by_role("button", name="Actions for greenhouse").click()
    await page.get_by_role("menu").get_by_role("menuitem", name="Edit").click()
    edit = page.get_by_role("dialog", name="Edit token")
    field = edit.get_by_label("Limit to pipes (optional)")
    await expect(field).to_have_value("mqtt:garden/*/*\nmqtt:garden/temperature/-")
    await field.fill("mqtt:garden/temperature/greenhouse.1")
    await console.shot("token-pipes-edit")
    await edit.get_by_role("button", name="Save changes").click()
    await expect(edit).to_be_hidden()
    await expect(row).to_contain_text("Pipes: mqtt:garden/temperature/greenhouse.1")
    await console.shot("token-pipes-row")
    # Blank: every pipe again, and the row says nothing of pipes.
    await row.get_by_role("button", name="Actions for greenhouse").click()
    await page.get_by_role("menu").get_by_role("menuitem", name="Edit").click()
    await field.fill("")
    await edit.get_by_role("button", name="Save changes").click()
    await expect(edit).to_be_hidden()
    await expect(row).not_to_contain_text("Pipes:")
    [token] = (await http.call("GET", "/tokens", headers=alice))[1]["items"]
    assert token["pipes"] is None
