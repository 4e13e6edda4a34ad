"""Writing, reading (JSON and CSV) and deleting a pipe's rows."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import asyncpg
import pytest

from service.pipes.rows import MAX_ROWS
from tests.pipes.conftest import DATA, PIPE, error_of


def hourly(n: int, start: int = 0, **values) -> list[dict]:
    """`n` rows an hour apart on 2024-01-01 (hours start..start+n-1), "v" the hour."""
    return [{"timestamp": f"2024-01-01T{h:02d}:00:00Z", "v": h, **values}
            for h in range(start, start + n)]


async def write(client, headers, rows, path=DATA, status=200, **kwargs):
    resp = await client.post(path, headers=headers, json=rows, **kwargs)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def read(client, headers, path=DATA, **params):
    resp = await client.get(path, headers=headers, params=params)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def stored(database_url) -> list[tuple]:
    conn = await asyncpg.connect(database_url)
    try:
        return [tuple(r) for r in await conn.fetch(
            'SELECT ts, "values"::text FROM pipe_rows ORDER BY ts')]
    finally:
        await conn.close()


async def test_write_counts_inserted_and_updated(client, owner_headers, pipe):
    assert await write(client, owner_headers, hourly(3)) == {"inserted": 3, "updated": 0}
    # A device resending after a timeout duplicates nothing.
    assert await write(client, owner_headers, hourly(3)) == {"inserted": 0, "updated": 3}
    assert await write(client, owner_headers, hourly(4, start=2)) == {"inserted": 3,
                                                                       "updated": 1}
    body = await read(client, owner_headers)
    assert [r["v"] for r in body["items"]] == [0, 1, 2, 3, 4, 5]


async def test_write_replaces_values(client, owner_headers, pipe):
    await write(client, owner_headers, [{"timestamp": "2024-01-01T00:00:00Z", "a": 1, "b": 2}])
    await write(client, owner_headers, [{"timestamp": "2024-01-01T00:00:00Z", "c": 3}])
    assert (await read(client, owner_headers))["items"] == [
        {"timestamp": "2024-01-01T00:00:00Z", "c": 3}]


async def test_last_row_for_a_timestamp_wins(client, owner_headers, pipe):
    rows = [{"timestamp": "2024-01-01T01:00:00+01:00", "v": "first"},
            {"timestamp": "2024-01-01T00:30:00Z", "v": "other"},
            {"timestamp": "2024-01-01T00:00:00", "v": "second"},  # the same instant, as UTC
            {"timestamp": "2024-01-01T00:00:00.000000Z", "v": "last"}]
    assert await write(client, owner_headers, rows) == {"inserted": 2, "updated": 0}
    items = (await read(client, owner_headers))["items"]
    assert items == [{"timestamp": "2024-01-01T00:00:00Z", "v": "last"},
                     {"timestamp": "2024-01-01T00:30:00Z", "v": "other"}]


async def test_timestamps_keep_microseconds_and_offsets_become_utc(client, owner_headers, pipe):
    rows = [{"timestamp": "2024-06-01T12:00:00.123456-05:00"}, {"timestamp": "2024-06-02"}]
    await write(client, owner_headers, rows)
    items = (await read(client, owner_headers))["items"]
    assert items == [{"timestamp": "2024-06-01T17:00:00.123456Z"},
                     {"timestamp": "2024-06-02T00:00:00Z"}]


async def test_values_are_any_json(client, owner_headers, pipe):
    row = {"timestamp": "2024-01-01T00:00:00Z", "n": 1.5, "i": -3, "s": "ünï \"quoted\"",
           "b": False, "null": None, "list": [1, "two", {"three": 3}],
           "obj": {"deep": {"er": [True]}}, "": "empty key"}
    await write(client, owner_headers, [row])
    assert (await read(client, owner_headers))["items"] == [row]


async def test_empty_batch_writes_nothing(client, owner_headers, pipe):
    assert await write(client, owner_headers, []) == {"inserted": 0, "updated": 0}


@pytest.mark.parametrize("rows, index, message", [
    ([{"v": 1}], "0", "missing timestamp"),
    ([{"timestamp": "2024-01-01T00:00:00Z"}] * 7 + [{"v": 1}], "7", "missing timestamp"),
    ([{"timestamp": "2024-01-01T00:00:00Z"}, [1, 2]], "1", "not a JSON object"),
    ([{"timestamp": "2024-01-01T00:00:00Z"}, "text"], "1", "not a JSON object"),
    ([{"timestamp": "2024-01-01T00:00:00Z"}, None], "1", "not a JSON object"),
    ([{"timestamp": "yesterday"}], "0", "timestamp is not an ISO 8601 date and time"),
    ([{"timestamp": "2024-13-01T00:00:00Z"}], "0", "timestamp is not an ISO 8601 date and time"),
    ([{"timestamp": 1704067200}], "0", "timestamp is not an ISO 8601 date and time"),
    ([{"timestamp": None}], "0", "timestamp is not an ISO 8601 date and time"),
    ([{"timestamp": "0001-01-01T00:00:00+01:00"}], "0",
     "timestamp is not an ISO 8601 date and time"),
    ([{"timestamp": "2024-01-01T00:00:00Z", "s": "nul\u0000"}], "0",
     "strings may not contain the NUL character (\\u0000)"),
    ([{"timestamp": "2024-01-01T00:00:00Z", "o": {"k\u0000": 1}}], "0",
     "strings may not contain the NUL character (\\u0000)"),
])
async def test_bad_rows_are_422_naming_the_first_and_nothing_is_stored(
        client, owner_headers, pipe, database_url, rows, index, message):
    # Good rows before the bad one, and a second bad row after it.
    body = [{"timestamp": "2023-01-01T00:00:00Z", "ok": 1}, *rows, {"v": "also bad"}]
    index = str(int(index) + 1)
    err = await error_of(await client.post(DATA, headers=owner_headers, json=body), 422)
    assert err["fields"] == {index: [message]}
    assert await stored(database_url) == []


async def test_bad_json_numbers_and_surrogates_are_422(client, owner_headers, pipe, database_url):
    headers = {**owner_headers, "Content-Type": "application/json"}
    for text, message in [
        ('[{"timestamp": "2024-01-01T00:00:00Z", "v": NaN}]', "finite"),
        ('[{"timestamp": "2024-01-01T00:00:00Z", "v": [Infinity]}]', "finite"),
        ('[{"timestamp": "2024-01-01T00:00:00Z", "v": "\\ud800"}]', "surrogate"),
    ]:
        err = await error_of(await client.post(DATA, headers=headers, data=text), 422)
        assert message in err["fields"]["0"][0]
    # A backslash followed by the text u0000 is an ordinary string.
    row = {"timestamp": "2024-01-01T00:00:00Z", "v": "\\u0000"}
    await write(client, owner_headers, [row])
    assert (await read(client, owner_headers))["items"] == [row]


@pytest.mark.parametrize("body", [{"timestamp": "2024-01-01T00:00:00Z"}, "rows", 5, None])
async def test_body_must_be_an_array(client, owner_headers, pipe, body):
    headers = {**owner_headers, "Content-Type": "application/json"}
    resp = await client.post(DATA, headers=headers, data=json.dumps(body))
    err = await error_of(resp, 422)
    assert err["fields"] == {"_schema": ["must be a JSON array of rows"]}


async def test_more_than_max_rows_is_413(client, owner_headers, pipe, database_url):
    rows = [{"timestamp": f"2024-01-01T00:00:{i % 60:02d}Z"} for i in range(MAX_ROWS + 1)]
    err = await error_of(await client.post(DATA, headers=owner_headers, json=rows), 413)
    assert str(MAX_ROWS) in err["error_description"]
    assert await stored(database_url) == []


async def test_max_rows_are_accepted_in_one_request(client, owner_headers, pipe):
    rows = [{"timestamp": f"2024-01-01T00:00:00.{i:06d}Z", "v": i} for i in range(MAX_ROWS)]
    assert await write(client, owner_headers, rows) == {"inserted": MAX_ROWS, "updated": 0}
    assert (await (await client.get(PIPE, headers=owner_headers)).json())["row_count"] == MAX_ROWS


async def test_body_over_the_size_limit_is_413(client, owner_headers, pipe):
    rows = [{"timestamp": "2024-01-01T00:00:00Z", "pad": "x" * 2_000_000}]
    body = io.BytesIO(json.dumps(rows).encode())
    headers = {**owner_headers, "Content-Type": "application/json"}
    await error_of(await client.post(DATA, headers=headers, data=body), 413)


async def test_wrong_content_type_and_bad_json(client, owner_headers, pipe):
    await error_of(await client.post(DATA, headers=owner_headers, data="timestamp,v"), 415)
    resp = await client.post(DATA, headers={**owner_headers, "Content-Type": "application/json"},
                             data='[{"timestamp": ')
    await error_of(resp, 400)


async def test_unknown_pipe_is_404_unless_create(client, owner_headers):
    rows = hourly(2)
    err = await error_of(await client.post(DATA, headers=owner_headers, json=rows), 404)
    assert "create=true" in err["error_description"]
    await error_of(await client.post(DATA + "?create=false", headers=owner_headers, json=rows),
                   404)
    assert await write(client, owner_headers, rows, path=DATA + "?create=true") == {
        "inserted": 2, "updated": 0}
    pipe = await (await client.get(PIPE, headers=owner_headers)).json()
    assert pipe["parameters"] == {} and pipe["row_count"] == 2
    # Once it exists, create=true just writes.
    assert await write(client, owner_headers, rows, path=DATA + "?create=true") == {
        "inserted": 0, "updated": 2}


async def test_create_registers_a_pipe_without_location(client, owner_headers):
    await write(client, owner_headers, hourly(1), path="/pipes/dev:1/power/-/data?create=1")
    body = await (await client.get("/pipes", headers=owner_headers)).json()
    assert [(p["connector_keys"], p["location_key"]) for p in body["items"]] == [("dev:1", None)]


@pytest.mark.parametrize("query, field", [("create=maybe", "create"), ("force=1", "force"),
                                          ("create=1&create=0", "create")])
async def test_write_refuses_bad_query(client, owner_headers, pipe, query, field):
    resp = await client.post(DATA + "?" + query, headers=owner_headers, json=hourly(1))
    assert field in (await error_of(resp, 422))["fields"]


async def test_read_range_and_limit(client, owner_headers, pipe):
    await write(client, owner_headers, hourly(10))
    body = await read(client, owner_headers, begin="2024-01-01T02:00:00Z",
                      end="2024-01-01T05:00:00Z")
    assert [r["v"] for r in body["items"]] == [2, 3, 4]  # begin inclusive, end exclusive
    assert body["next"] is None
    # No offset means UTC; an offset is honoured.
    body = await read(client, owner_headers, begin="2024-01-01T09:00:00+02:00",
                      end="2024-01-01T09:00:00")
    assert [r["v"] for r in body["items"]] == [7, 8]
    body = await read(client, owner_headers, begin="2024-01-01T08:00:00Z")
    assert [r["v"] for r in body["items"]] == [8, 9]
    body = await read(client, owner_headers, end="2024-01-01T01:00:00Z")
    assert [r["v"] for r in body["items"]] == [0]
    body = await read(client, owner_headers, begin="2025-01-01")
    assert body == {"items": [], "next": None}


async def test_read_pages_follow_next_to_the_end(client, owner_headers, pipe):
    await write(client, owner_headers, hourly(10))
    body = await read(client, owner_headers, limit="3", end="2024-01-01T08:00:00Z")
    seen = [r["v"] for r in body["items"]]
    assert seen == [0, 1, 2]
    assert body["next"] == (DATA + "?begin=2024-01-01T03%3A00%3A00Z"
                            "&end=2024-01-01T08%3A00%3A00Z&limit=3")
    pages = 1
    while body["next"]:
        resp = await client.get(body["next"], headers=owner_headers)
        assert resp.status == 200
        body = await resp.json()
        seen += [r["v"] for r in body["items"]]
        pages += 1
    assert seen == [0, 1, 2, 3, 4, 5, 6, 7]
    assert pages == 3
    # A page that ends exactly at the last row has no next.
    body = await read(client, owner_headers, limit="10")
    assert len(body["items"]) == 10 and body["next"] is None
    body = await read(client, owner_headers)
    assert len(body["items"]) == 10 and body["next"] is None  # default limit 1000


@pytest.mark.parametrize("query, field", [
    ({"begin": "soon"}, "begin"),
    ({"end": "2024-02-30"}, "end"),
    ({"begin": "2024-01-02", "end": "2024-01-01"}, "end"),
    ({"begin": "2024-01-01", "end": "2024-01-01T00:00:00Z"}, "end"),
    ({"limit": "0"}, "limit"),
    ({"limit": "100001"}, "limit"),
    ({"limit": "1.5"}, "limit"),
    ({"after": "2024-01-01"}, "after"),
])
async def test_read_refuses_bad_query(client, owner_headers, pipe, query, field):
    resp = await client.get(DATA, headers=owner_headers, params=query)
    assert field in (await error_of(resp, 422))["fields"]


async def test_read_accepts_the_largest_limit(client, owner_headers, pipe):
    await write(client, owner_headers, hourly(2))
    body = await read(client, owner_headers, limit="100000")
    assert len(body["items"]) == 2


async def test_read_unknown_pipe_is_404(client, owner_headers):
    await error_of(await client.get(DATA, headers=owner_headers), 404)


async def test_csv_output(client, owner_headers, pipe):
    rows = [{"timestamp": "2024-01-01T00:00:00Z", "t": 21.5, "label": "a, \"b\""},
            {"timestamp": "2024-01-01T01:00:00Z", "t": 22, "nested": {"x": [1, 2]},
             "flag": True, "none": None},
            {"timestamp": "2024-01-01T02:00:00Z", "label": "only"}]
    await write(client, owner_headers, rows)
    resp = await client.get(DATA, headers={**owner_headers, "Accept": "text/csv"})
    assert resp.status == 200
    assert resp.content_type == "text/csv"
    assert "Link" not in resp.headers
    text = await resp.text()
    lines = text.splitlines()
    assert lines[0] == "timestamp,flag,label,nested,none,t"  # value columns sorted
    assert len(lines) == 4
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[1] == ["2024-01-01T00:00:00Z", "", 'a, "b"', "", "", "21.5"]
    assert parsed[2] == ["2024-01-01T01:00:00Z", "true", "", '{"x":[1,2]}', "", "22"]
    assert json.loads(list(csv.DictReader(io.StringIO(text)))[1]["nested"]) == {"x": [1, 2]}
    assert parsed[3] == ["2024-01-01T02:00:00Z", "", "only", "", "", ""]


async def test_csv_pages_through_the_link_header(client, owner_headers, pipe):
    await write(client, owner_headers, hourly(3))
    headers = {**owner_headers, "Accept": "text/csv"}
    resp = await client.get(DATA + "?limit=2", headers=headers)
    assert (await resp.text()).splitlines() == ["timestamp,v", "2024-01-01T00:00:00Z,0",
                                                "2024-01-01T01:00:00Z,1"]
    link = resp.headers["Link"]
    assert link == f'<{DATA}?begin=2024-01-01T02%3A00%3A00Z&limit=2>; rel="next"'
    resp = await client.get(link[1:link.index(">")], headers=headers)
    assert (await resp.text()).splitlines() == ["timestamp,v", "2024-01-01T02:00:00Z,2"]
    assert "Link" not in resp.headers


async def test_csv_of_no_rows_is_a_header(client, owner_headers, pipe):
    resp = await client.get(DATA, headers={**owner_headers, "Accept": "text/csv"})
    assert await resp.text() == "timestamp\r\n"


@pytest.mark.parametrize("accept, kind", [
    ("text/csv", "text/csv"),
    ("text/csv;q=0.9, application/json;q=0.5", "text/csv"),
    ("application/json, text/csv;q=0.5", "application/json"),
    ("*/*", "application/json"),
    ("text/csv, */*", "application/json"),  # a tie goes to JSON
    ("text/html", "application/json"),
    ("text/csv;q=oops", "application/json"),
])
async def test_accept_negotiation(client, owner_headers, pipe, accept, kind):
    await write(client, owner_headers, hourly(1))
    resp = await client.get(DATA, headers={**owner_headers, "Accept": accept})
    assert resp.status == 200 and resp.content_type == kind


async def test_delete_range(client, owner_headers, pipe):
    await write(client, owner_headers, hourly(10))

    async def delete(**params):
        resp = await client.delete(DATA, headers=owner_headers, params=params)
        assert resp.status == 200, await resp.text()
        return (await resp.json())["deleted"]

    assert await delete(begin="2024-01-01T02:00:00Z", end="2024-01-01T04:00:00Z") == 2
    assert await delete(begin="2024-01-01T08:00:00Z") == 2
    assert await delete(end="2024-01-01T01:00:00") == 1
    assert await delete(end="2024-01-01T01:00:00") == 0
    body = await read(client, owner_headers)
    assert [r["v"] for r in body["items"]] == [1, 4, 5, 6, 7]


@pytest.mark.parametrize("query, field", [
    ("", "_schema"),
    ("limit=5", "limit"),
    ("begin=later", "begin"),
    ("begin=2024-01-02&end=2024-01-01", "end"),
])
async def test_delete_range_refuses_bad_query(client, owner_headers, pipe, database_url,
                                              query, field):
    await write(client, owner_headers, hourly(2))
    resp = await client.delete(DATA + ("?" + query if query else ""), headers=owner_headers)
    assert field in (await error_of(resp, 422))["fields"]
    assert len(await stored(database_url)) == 2


async def test_delete_range_of_unknown_pipe_is_404(client, owner_headers):
    await error_of(await client.delete(DATA + "?begin=2024-01-01", headers=owner_headers), 404)


async def test_json_body_is_spaced_like_json_dumps(client, owner_headers, pipe):
    await write(client, owner_headers, [{"timestamp": "2024-01-01T00:00:00Z", "a": [1, 2]},
                                        {"timestamp": "2024-01-01T00:00:01Z"}])
    text = await (await client.get(DATA, headers=owner_headers)).text()
    assert text == json.dumps({"items": [{"timestamp": "2024-01-01T00:00:00Z", "a": [1, 2]},
                                         {"timestamp": "2024-01-01T00:00:01Z"}], "next": None})


async def test_concurrent_overlapping_batches_all_land(client, owner_headers, pipe):
    """Batches sharing timestamps in opposite orders, at once: no deadlock, no 500."""
    forward = [{"timestamp": f"2024-01-01T00:00:{s:02d}Z", "v": s} for s in range(60)]
    batches = [forward if i % 2 else list(reversed(forward)) for i in range(8)]
    results = await asyncio.gather(*(client.post(DATA, headers=owner_headers, json=b)
                                     for b in batches))
    assert [r.status for r in results] == [200] * 8
    counts = [await r.json() for r in results]
    assert sum(c["inserted"] for c in counts) == 60
    assert sum(c["updated"] for c in counts) == 7 * 60
    assert len((await read(client, owner_headers))["items"]) == 60
