"""Writing a pipe's rows: counts, replacement, validation, limits, atomicity."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from decimal import Decimal

import asyncpg
import pytest

from service.pipes.rows import MAX_ROWS
from service.validation import MAX_JSON_DEPTH
from tests.support.pipes import DATA, PIPE, error_of, hourly, read, stored, write


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


@pytest.mark.parametrize("odd", [None, "2024-06-01 12:00:00", " 2024-06-01T12:00:00Z",
                                 "20240601T120000Z", "2024-06-01T12:00:00.0000000Z",
                                 "2024-06-01T00:00:00-12:00",
                                 # Offsets past PostgreSQL's own +-15:59 (Python's reach 23:59).
                                 "2024-06-02T07:39:00+19:39", "2024-06-02T11:59:00+23:59",
                                 "2024-05-31T20:00:00-16:00"])
async def test_one_instant_written_several_ways_is_one_row(client, owner_headers, pipe, odd):
    """Plain ISO text goes to the database as sent, other forms as Python read them: either
    way each instant is one row, the last one sent."""
    rows = [{"timestamp": "2024-06-01T12:00:00Z", "v": 1},
            {"timestamp": "2024-06-01T13:00:00+01:00", "v": 2},
            {"timestamp": "2024-06-01T11:00:00.5-00:30", "v": "half"},
            {"timestamp": "2024-06-01T07:00:00.000000-05:00", "v": 3}]
    if odd is not None:
        rows.append({"timestamp": odd, "v": "odd"})
    written = await write(client, owner_headers, rows)
    assert written == {"inserted": 2, "updated": 0}
    items = (await read(client, owner_headers))["items"]
    assert items == [{"timestamp": "2024-06-01T11:30:00.500000Z", "v": "half"},
                     {"timestamp": "2024-06-01T12:00:00Z", "v": 3 if odd is None else "odd"}]


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


@pytest.mark.parametrize("values", [
    # Plain UTF-8 text, stored as sent.
    '"t": 21.50, "h": 40, "neg": -0.0, "s": "ünï", "big": ' + "7" * 400,
    # Each of these sends the body down the path that encodes it again.
    '"e": 1.5e3, "E": 2E-2', '"esc": "caf\\u00e9 \\n"', '"long": ' + "3" * 330,
    '"s": "NaN and Infinity are only words here"',
])
async def test_values_read_back_as_json_reads_the_body(client, owner_headers, pipe, values):
    text = '[{"timestamp": "2024-01-01T00:00:00Z", ' + values + "}]"
    headers = {**owner_headers, "Content-Type": "application/json; charset=utf-8"}
    resp = await client.post(DATA, headers=headers, data=text.encode())
    assert resp.status == 200, await resp.text()
    assert (await read(client, owner_headers))["items"] == json.loads(text)


@pytest.mark.parametrize("escape", ["", ', "s": "a\\\\b"'])
async def test_a_number_is_stored_as_python_reads_it_whatever_else_the_body_holds(
        client, owner_headers, pipe, database_url, escape):
    """A body without escapes is stored as sent, one with them as Python reads it: a number
    must be the same value either way, and so the same in JSON and in CSV."""
    text = ('[{"timestamp": "2024-01-01T00:00:00Z", "a": 0.1000000000000000000000001, '
            '"b": 1.50, "c": 123456789012345678901234567890.5, "d": 21.123456789012345'
            + escape + "}]")
    headers = {**owner_headers, "Content-Type": "application/json"}
    resp = await client.post(DATA, headers=headers, data=text)
    assert resp.status == 200, await resp.text()
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchrow(
            """SELECT ("values"->>'a')::numeric AS a, ("values"->>'b')::numeric AS b,
                      ("values"->>'c')::numeric AS c, ("values"->>'d')::numeric AS d
               FROM pipe_rows""")
    finally:
        await conn.close()
    expected = json.loads(text)[0]
    for key in "abcd":
        assert float(stored[key]) == expected[key], key
    assert stored["a"] == Decimal("0.1")  # not the 25 digits sent: Python's value
    [item] = (await read(client, owner_headers))["items"]
    # As floats (a float past 1e16 comes back as jsonb writes it: an integer's digits).
    assert {k: float(item[k]) for k in "abcd"} == {k: expected[k] for k in "abcd"}
    resp = await client.get(DATA, headers={**owner_headers, "Accept": "text/csv"})
    [row] = list(csv.DictReader(io.StringIO(await resp.text())))
    assert {k: float(row[k]) for k in "abcd"} == {k: expected[k] for k in "abcd"}


@pytest.mark.parametrize("number", ["1e400", "-1E+309", "1" * 320 + ".5"])
async def test_numbers_past_a_float_are_422(client, owner_headers, pipe, database_url, number):
    text = '[{"timestamp": "2024-01-01T00:00:00Z", "v": ' + number + "}]"
    headers = {**owner_headers, "Content-Type": "application/json"}
    err = await error_of(await client.post(DATA, headers=headers, data=text), 422)
    assert "finite" in err["fields"]["0"][0]
    assert await stored(database_url) == []


@pytest.mark.parametrize(("text", "index", "message"), [
    # The body is encoded as a whole: whichever fault comes first is the one named.
    ('[{"timestamp": "2024-01-01T00:00:00Z"}, {"timestamp": "2024-01-01T00:00:01Z", '
     '"v": NaN}, {"timestamp": "2024-01-01T00:00:02Z", "v": "\\ud800"}, {"v": 1}]',
     "1", "finite"),
    ('[{"timestamp": "2024-01-01T00:00:00Z"}, {"timestamp": "2024-01-01T00:00:01Z"}, '
     '{"timestamp": "2024-01-01T00:00:02Z", "v": "\\ud800"}, '
     '{"timestamp": "2024-01-01T00:00:03Z", "v": Infinity}]', "2", "surrogate"),
    ('[{"timestamp": "2024-01-01T00:00:00Z", "v": {"w": [-Infinity]}}, {"timestamp": "no"}]',
     "0", "finite"),
])
async def test_the_first_bad_row_is_named_whatever_its_fault(
        client, owner_headers, pipe, database_url, text, index, message):
    headers = {**owner_headers, "Content-Type": "application/json"}
    err = await error_of(await client.post(DATA, headers=headers, data=text), 422)
    assert list(err["fields"]) == [index]
    assert message in err["fields"][index][0]
    assert await stored(database_url) == []


@pytest.mark.parametrize("too_deep", [False, True])
async def test_many_flat_rows_and_one_deep_value(client, owner_headers, pipe, database_url,
                                                 too_deep):
    # The body (an array of objects) holds a value nested exactly to the limit, or one
    # level past it, beside rows of plain values that a bracket count alone would not pass.
    levels = MAX_JSON_DEPTH - 2 + too_deep
    value: object = 1
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    rows = [*({"timestamp": f"2024-01-01T00:{m:02d}:00Z", "v": m} for m in range(60)),
            {"timestamp": "2025-01-01T00:00:00Z", "v": value}]
    resp = await client.post(DATA, headers=owner_headers, json=rows)
    if too_deep:
        err = await error_of(resp, 422)
        assert err["fields"] == {"60": [f"nested deeper than {MAX_JSON_DEPTH} levels"]}
        assert await stored(database_url) == []
    else:
        assert resp.status == 200, await resp.text()
        assert await resp.json() == {"inserted": 61, "updated": 0}


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


async def test_rows_of_one_request_land_in_the_partitions_of_their_times(
        request, client, owner_headers, pipe, database_url):
    """The suite runs on both tables (tests/pipes/conftest.py): this is the partitioned one."""
    conn = await asyncpg.connect(database_url)
    try:
        kind = await conn.fetchval("SELECT relkind::text FROM pg_class WHERE relname = 'pipe_rows'")
        assert await write(client, owner_headers, hourly(24)) == {"inserted": 24, "updated": 0}
        places = await conn.fetch("SELECT tableoid::regclass::text AS part, count(*) "
                                  "FROM pipe_rows GROUP BY 1 ORDER BY 1")
    finally:
        await conn.close()
    if request.node.callspec.params["database_url"] == "plain":
        assert kind == "r"
        assert [tuple(p) for p in places] == [("pipe_rows", 24)]
    else:
        assert kind == "p"  # partitioned, split at noon
        assert [tuple(p) for p in places] == [("pipe_rows_after", 12), ("pipe_rows_before", 12)]
