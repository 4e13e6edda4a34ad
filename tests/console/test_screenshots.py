"""The pictures in docs/console.md, made from real pages at 1280 × 800 and 390 px wide.

Saved under test-artifacts/console/ on every run; copied over docs/img/ (tracked files)
only with UPDATE_README_IMAGE=1, so that running the tests leaves the work tree clean.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import expect

from service.config import PROJECT_ROOT
from tests.support.console import ADMIN, ALICE, insert_tokens

pytestmark = pytest.mark.asyncio(loop_scope="session")

IMAGES = PROJECT_ROOT / "docs" / "img"
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 800}


async def publish(console, name: str, *, full_page: bool = False) -> None:
    shot = await console.shot(f"docs-{name}", full_page=full_page)
    assert shot.stat().st_size > 10_000
    if os.environ.get("UPDATE_README_IMAGE") == "1":
        IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, IMAGES / f"{name}.png")
    assert (IMAGES / f"{name}.png").exists(), "run once with UPDATE_README_IMAGE=1 to make it"


async def arrange(http, database_url) -> None:
    admin, alice = await http.bearer(*ADMIN), await http.bearer(*ALICE)
    await http.create_token(alice, label="greenhouse-sensor-3",
                            scopes=["read:pipes", "write:pipes"])
    await http.create_token(alice, label="dashboard", scopes=["read:pipes"], expiration=None)
    await insert_tokens(database_url, "alice", ["field-tablet"], scopes=("read:pipes",),
                        expiration=datetime.now(UTC) + timedelta(days=3, hours=2))
    gone = await http.create_token(admin, label="old-laptop", scopes=["read:tokens"])
    await http.call("POST", f"/tokens/{gone['id']}/invalidate", headers=admin)
    await http.create_token(admin, label="ci-deploy",
                            scopes=["read:pipes", "write:pipes", "delete:pipes"])
    start = (datetime.now(UTC) - timedelta(hours=20)).replace(minute=0, second=0, microsecond=0)
    rows = [{"timestamp": (start + timedelta(minutes=15 * i)).isoformat(),
             "celsius": round(18 + 4 * ((i % 32) / 32) + (i % 3) * 0.3, 2),
             "humidity": 55 - (i % 24) * 0.5, "door": "open" if i % 9 == 0 else "closed"}
            for i in range(80)]
    status, body = await http.call("POST", "/pipes/mqtt:garden/climate/greenhouse.1/data"
                                   "?create=true", headers=admin, body=rows)
    assert status == 200, body


async def test_the_docs_pictures(console_factory, http, people, database_url):
    await arrange(http, database_url)
    for viewport, suffix in ((WIDE, ""), (NARROW, "-narrow")):
        console = await console_factory(viewport=viewport)
        page = await console.sign_in(*ADMIN)
        await expect(page.get_by_role("rowheader")).to_have_count(5)
        await publish(console, f"console-tokens{suffix}")

        await page.get_by_role("button", name="New token").click()
        dialog = page.get_by_role("dialog", name="New token")
        await dialog.get_by_label("Label").fill("weather-station")
        await dialog.get_by_role("checkbox", name="write:pipes").check()
        await dialog.get_by_role("checkbox", name="write:users").check()
        await publish(console, f"console-new-token{suffix}")
        await dialog.get_by_role("button", name="Cancel").click()

        await page.get_by_role("link", name="Pipes").click()
        await page.get_by_role("button", name="mqtt:garden · climate · greenhouse.1").click()
        await expect(page.locator("#pipe-chart canvas")).to_have_count(1)
        if suffix:  # on a phone the list comes first: show the chosen pipe
            await page.locator("#pipe-title").scroll_into_view_if_needed()
        await publish(console, f"console-pipes{suffix}")

    console = await console_factory(viewport=WIDE)
    page = await console.sign_in(*ADMIN)
    await page.get_by_role("link", name="Users").click()
    await expect(page.get_by_role("rowheader")).to_have_count(2)
    await publish(console, "console-users")
    await page.get_by_role("link", name="Audit").click()
    await expect(page.get_by_role("status").filter(has_text="events shown")).to_be_visible()
    await publish(console, "console-audit")
