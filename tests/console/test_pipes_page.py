"""The Pipes page in Chromium: the pipes one may read, a pipe's facts, a uPlot chart of its
numeric fields whose drawn range matches the rows, the latest rows and a CSV download."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import expect

from tests.support.console import ADMIN, ALICE

pytestmark = pytest.mark.asyncio(loop_scope="session")

PIPE = "/pipes/sql:main/temperature/lab.1"


def minute_rows(start: datetime, n: int) -> list[dict]:
    """`n` rows a minute apart from `start`: two numeric fields and a text one."""
    return [{"timestamp": (start + timedelta(minutes=i)).isoformat(), "celsius": 20 + i / 2,
             "humidity": 40 + (i % 7), "status": "ok" if i % 5 else "check"}
            for i in range(n)]


async def write_pipe(http, rows) -> None:
    admin = await http.bearer(*ADMIN)
    status, body = await http.call("POST", f"{PIPE}/data?create=true", headers=admin, body=rows)
    assert status == 200, body
    status, body = await http.call("PATCH", PIPE, headers=admin,
                                   body={"parameters": {"unit": "°C", "site": "<b>lab</b>"}})
    assert status == 200, body


async def open_pipe(console, who=ADMIN):
    page = await console.sign_in(*who)
    await page.get_by_role("link", name="Pipes").click()
    await page.get_by_role("button", name="sql:main · temperature · lab.1").click()
    return page


async def test_a_chart_is_drawn_over_the_rows_range(console, http, people):
    start = (datetime.now(UTC) - timedelta(minutes=50)).replace(second=0, microsecond=0)
    rows = minute_rows(start, 40)
    await write_pipe(http, rows)
    page = await open_pipe(console)
    view = page.get_by_role("region", name="Pipes")
    detail = page.locator("#pipe-detail")
    title = detail.get_by_role("heading", name="sql:main · temperature · lab.1")
    await expect(title).to_be_visible()
    await expect(detail.locator("#pipe-facts")).to_contain_text("Rows40")
    await expect(view.get_by_label("Range", exact=True)).to_have_value("day")
    await expect(page.get_by_role("status").filter(has_text="rows in this range")).to_have_text(
        "40 rows in this range; the latest 40 below.")

    chart = page.locator("#pipe-chart")
    await expect(chart.locator("canvas")).to_have_count(1)
    await expect(chart).to_have_attribute("data-points", "40")
    # What uPlot drew, from its own scales: the x range is the rows' first to last time,
    # the y range holds every numeric value, and only the numeric fields are series.
    drawn = await chart.evaluate("(box) => ({ ...box.dataset })")
    first = datetime.fromisoformat(rows[0]["timestamp"]).timestamp()
    last = datetime.fromisoformat(rows[-1]["timestamp"]).timestamp()
    assert float(drawn["xMin"]) == first and float(drawn["xMax"]) == last, drawn
    values = [r[f] for r in rows for f in ("celsius", "humidity")]
    assert float(drawn["yMin"]) <= min(values) and float(drawn["yMax"]) >= max(values), drawn
    assert drawn["series"] == '["celsius","humidity"]'
    await expect(page.get_by_role("img", name="celsius, humidity over time")).to_be_visible()

    # The table has every field, newest first; the text field is only there.
    table = page.get_by_role("table", name="Latest rows")
    await expect(table.get_by_role("columnheader")).to_have_text(
        ["timestamp", "celsius", "humidity", "status"])
    await expect(table.locator("tbody tr").first).to_contain_text(str(rows[-1]["celsius"]))
    await expect(table.locator("tbody tr")).to_have_count(40)
    await expect(table).to_contain_text("check")
    # Parameters are text, never HTML.
    await page.get_by_text("Parameters").click()
    await expect(page.locator("#pipe-params")).to_contain_text('"site": "<b>lab</b>"')
    assert await page.locator("#pipe-params b").count() == 0
    await console.shot("pipes")

    # The last hour holds the rows too; a custom range before them holds none.
    await view.get_by_label("Range", exact=True).select_option("hour")
    await expect(chart).to_have_attribute("data-points", "40")
    await view.get_by_label("Range", exact=True).select_option("custom")
    await view.get_by_label("From", exact=True).fill("2001-01-01T00:00")
    await view.get_by_label("Until", exact=True).fill("2001-01-02T00:00")
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_text("No rows in this range.")).to_be_visible()
    await expect(page.locator("#chart-figure")).to_be_hidden()


async def test_a_narrow_range_draws_only_its_rows_and_csv_downloads_it(console, http, people):
    start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    rows = minute_rows(start, 30)
    await write_pipe(http, rows)
    page = await open_pipe(console)
    view = page.get_by_role("region", name="Pipes")
    # Old readings: the whole span is shown rather than an empty last day.
    await expect(view.get_by_label("Range", exact=True)).to_have_value("all")
    chart = page.locator("#pipe-chart")
    await expect(chart).to_have_attribute("data-points", "30")
    await view.get_by_label("Range", exact=True).select_option("custom")
    await view.get_by_label("From", exact=True).fill("2024-05-01T12:10")  # the browser runs in UTC
    await view.get_by_label("Until", exact=True).fill("2024-05-01T12:20")
    await page.get_by_role("button", name="Show").click()
    await expect(chart).to_have_attribute("data-points", "10")
    drawn = await chart.evaluate("(box) => ({ ...box.dataset })")
    assert float(drawn["xMin"]) == (start + timedelta(minutes=10)).timestamp()
    assert float(drawn["xMax"]) == (start + timedelta(minutes=19)).timestamp()

    async with page.expect_download() as info:
        await page.get_by_role("button", name="Download CSV").click()
    download = await info.value
    assert download.suggested_filename == "sql_main_temperature.csv"
    lines = (await download.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",")[0] == "timestamp"
    assert len(lines) == 11  # the header and the range's 10 rows


async def test_without_read_pipes_the_page_says_why(console, http, people):
    admin = await http.bearer(*ADMIN)
    status, body = await http.call("PATCH", "/users/alice", headers=admin,
                                   body={"scopes": ["read:tokens", "write:tokens"]})
    assert status == 200, body
    page = await console.sign_in(*ALICE)
    await page.get_by_role("link", name="Pipes").click()
    await expect(page.get_by_role("alert").filter(has_text="Could not load the pipes")
                 ).to_contain_text("read:pipes")


async def test_keyboard_only_from_the_bar_to_the_chart(console, http, people):
    start = (datetime.now(UTC) - timedelta(minutes=30)).replace(second=0, microsecond=0)
    await write_pipe(http, minute_rows(start, 10))
    page = await console.sign_in(*ADMIN)
    keys = page.keyboard

    async def tab_to(target, *, limit: int = 40) -> None:
        for _ in range(limit):
            await keys.press("Tab")
            if await target.evaluate("node => node === document.activeElement"):
                return
        raise AssertionError(f"Tab never reached {target}")

    await tab_to(page.get_by_role("link", name="Pipes"))
    await keys.press("Enter")
    pipe = page.get_by_role("button", name="sql:main · temperature · lab.1")
    await tab_to(pipe)
    await keys.press("Enter")
    await expect(pipe).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#pipe-chart")).to_have_attribute("data-points", "10")
    await tab_to(page.get_by_role("button", name="Download CSV"))
