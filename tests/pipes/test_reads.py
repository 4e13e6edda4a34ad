"""Reading (JSON and CSV, a page at a time) and deleting a pipe's rows."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.support.pipes import DATA, error_of, hourly, read, stored, write


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
