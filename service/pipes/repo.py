"""Pipes and their rows in PostgreSQL. Plain functions taking a connection; the caller owns
the transaction.

A pipe without a location has location_key NULL; every lookup compares
coalesce(location_key, '') so that it uses the unique index on the key triple.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import asyncpg

from service.pipes.rows import Rows

Keys = tuple[str, str, str | None]  # connector_keys, metric_key, location_key (None: none)

INSERT = """
INSERT INTO pipes (connector_keys, metric_key, location_key, parameters)
VALUES ($1, $2, $3, $4)
ON CONFLICT (connector_keys, metric_key, coalesce(location_key, '')) DO NOTHING
RETURNING id, connector_keys, metric_key, location_key, parameters, created_at
"""
BY_KEYS = """
SELECT id, connector_keys, metric_key, location_key, parameters, created_at FROM pipes
WHERE connector_keys = $1 AND metric_key = $2 AND coalesce(location_key, '') = coalesce($3, '')
"""
BY_KEYS_FOR_UPDATE = """
SELECT id, connector_keys, metric_key, location_key, parameters, created_at FROM pipes
WHERE connector_keys = $1 AND metric_key = $2 AND coalesce(location_key, '') = coalesce($3, '')
FOR UPDATE
"""
# Row statistics: min and max come from the primary key; count is an index-only scan.
STATS = """
SELECT count(*) AS row_count, min(ts) AS first_timestamp, max(ts) AS last_timestamp
FROM pipe_rows WHERE pipe_id = $1
"""
# Filters: $3 says whether to filter on location; $4 is the location (NULL: none).
# $5-$7: a bound caller's patterns as parallel arrays (NULL element: any key; location
# '-': none, never a key), or NULL for a caller who reaches every pipe. Parts compare
# with '=', never LIKE: no character in a pattern is special to SQL.
PAGE = """
SELECT id, connector_keys, metric_key, location_key, parameters, created_at FROM pipes
WHERE ($1::text IS NULL OR connector_keys = $1)
  AND ($2::text IS NULL OR metric_key = $2)
  AND (NOT $3 OR coalesce(location_key, '') = coalesce($4::text, ''))
  AND ($5::text[] IS NULL OR EXISTS (
      SELECT 1 FROM unnest($5::text[], $6::text[], $7::text[]) AS p(ck, mk, lk)
      WHERE (p.ck IS NULL OR p.ck = connector_keys) AND (p.mk IS NULL OR p.mk = metric_key)
        AND (p.lk IS NULL OR p.lk = coalesce(location_key, '-'))))
ORDER BY connector_keys, metric_key, location_key NULLS FIRST
LIMIT $8 OFFSET $9
"""
COUNT = """
SELECT count(*) FROM pipes
WHERE ($1::text IS NULL OR connector_keys = $1)
  AND ($2::text IS NULL OR metric_key = $2)
  AND (NOT $3 OR coalesce(location_key, '') = coalesce($4::text, ''))
  AND ($5::text[] IS NULL OR EXISTS (
      SELECT 1 FROM unnest($5::text[], $6::text[], $7::text[]) AS p(ck, mk, lk)
      WHERE (p.ck IS NULL OR p.ck = connector_keys) AND (p.mk IS NULL OR p.mk = metric_key)
        AND (p.lk IS NULL OR p.lk = coalesce(location_key, '-'))))
"""
SET_PARAMETERS = """
UPDATE pipes SET parameters = $2 WHERE id = $1
RETURNING id, connector_keys, metric_key, location_key, parameters, created_at
"""
DELETE = "DELETE FROM pipes WHERE id = $1"


# Rows of one or more pipes, in one statement. $1-$3 are the pipes' keys (a slot each);
# $7 the requests' bodies as JSON text (arrays of row objects, each parsed once); $4-$6
# and $8 the rows: their pipe's slot, timestamp, body and index in it (all from 0),
# distinct per (slot, timestamp), which one statement that writes a row twice would refuse.
# $4, $6 and $8 may be NULL when they say nothing: one pipe, one body, the rows of one body
# in its order. The rows' arrays go as array text (timestamps ISO 8601 with an offset,
# Rows.stamps): asyncpg's encoder makes a Python call or two per element, which cost more
# for a hundred datetimes than PostgreSQL spends on reading their text. A row's values are
# its object without the timestamp key.
#
# Inserted and replaced rows are told apart without system columns (a partitioned table has
# no xmax to read): `fresh` inserts what is new and leaves what exists, `replaced` updates
# what existed when the statement began. Both run on one snapshot, so neither sees the
# other's rows and no row is written twice. A row another transaction inserted meanwhile is
# in neither; the caller writes those again in a new statement (a new snapshot), or, with
# $9 true (a statement that is its own transaction), the statement raises MRC01 and
# nothing is written (migrations/0010). Rows go in key order, so two writers of the same
# rows take their locks in the same order.
WRITE_ROWS = """
WITH pipe AS (
    SELECT w.n, p.id
    FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS w(ck, mk, lk, n)
    JOIN pipes p ON p.connector_keys = w.ck AND p.metric_key = w.mk
                AND coalesce(p.location_key, '') = coalesce(w.lk, '')
), body AS MATERIALIZED (
    SELECT b.d, b.rows::jsonb AS rows FROM unnest($7::text[]) WITH ORDINALITY AS b(rows, d)
), input AS (
    SELECT r.k, pipe.id AS pipe_id, r.ts,
           (body.rows -> coalesce(r.i, r.k::int - 1)) - 'timestamp' AS v
    FROM unnest($4::text::int[], $5::text::timestamptz[], $6::text::int[], $8::text::int[])
         WITH ORDINALITY AS r(n, ts, d, i, k)
    JOIN pipe ON pipe.n = coalesce(r.n, 0) + 1
    JOIN body ON body.d = coalesce(r.d, 0) + 1
), fresh AS (
    INSERT INTO pipe_rows (pipe_id, ts, "values")
    SELECT pipe_id, ts, v FROM input ORDER BY pipe_id, ts
    ON CONFLICT (pipe_id, ts) DO NOTHING
    RETURNING pipe_id, ts
), replaced AS (
    -- Not even looked for when `fresh` inserted every row (a batch of new readings): none
    -- of them existed in this snapshot. The test is one-time, before the first lookup.
    UPDATE pipe_rows t SET "values" = input.v
    FROM (SELECT * FROM input ORDER BY pipe_id, ts) AS input
    WHERE (SELECT count(*) FROM fresh) < (SELECT count(*) FROM input)
      AND t.pipe_id = input.pipe_id AND t.ts = input.ts
    RETURNING input.k
), counts AS (
    SELECT (SELECT count(*) FROM input) AS total, (SELECT count(*) FROM fresh) AS fresh,
           (SELECT coalesce(array_agg(k), '{}') FROM replaced) AS replaced
)
SELECT (SELECT coalesce(array_agg(n), '{}') FROM pipe) AS found, replaced,
       -- Every row is fresh or replaced, but for a race: only then which are fresh, a join
       -- this statement is not planned for at large sizes.
       CASE WHEN fresh + cardinality(replaced) < total THEN
           CASE WHEN $9 THEN mrsm_rows_contended() ELSE
               (SELECT coalesce(array_agg(input.k), '{}') FROM input JOIN fresh USING (pipe_id, ts))
           END
       END AS fresh
FROM counts
"""
# Pipes registered by a first write (?create=true); ON CONFLICT DO NOTHING: two devices
# creating the same pipe both succeed.
CREATE_PIPES = """
INSERT INTO pipes (connector_keys, metric_key, location_key, parameters)
SELECT ck, mk, lk, '{}' FROM unnest($1::text[], $2::text[], $3::text[]) AS w(ck, mk, lk)
ON CONFLICT (connector_keys, metric_key, coalesce(location_key, '')) DO NOTHING
"""
# A statement that finds some rows neither new nor old (another writer inserted them after
# it began) is repeated for those; more than this many times in a row is not a race.
WRITE_TRIES = 10
# Bounds: $2 inclusive, $3 exclusive, either NULL for open; rows as jsonb text, undecoded.
ROWS = """
SELECT ts, "values"::text AS values_text FROM pipe_rows
WHERE pipe_id = $1 AND ($2::timestamptz IS NULL OR ts >= $2)
  AND ($3::timestamptz IS NULL OR ts < $3)
ORDER BY ts
LIMIT $4
"""
DELETE_ROWS = """
WITH gone AS (
    DELETE FROM pipe_rows
    WHERE pipe_id = $1 AND ($2::timestamptz IS NULL OR ts >= $2)
      AND ($3::timestamptz IS NULL OR ts < $3)
    RETURNING 1
)
SELECT count(*) FROM gone
"""


async def insert(conn: asyncpg.Connection, connector_keys: str, metric_key: str,
                 location_key: str | None, parameters: dict) -> asyncpg.Record | None:
    """The new pipe, or None when one with these keys exists."""
    return await conn.fetchrow(INSERT, connector_keys, metric_key, location_key, parameters)


async def by_keys(conn: asyncpg.Connection, connector_keys: str, metric_key: str,
                  location_key: str | None, *, for_update: bool = False) -> asyncpg.Record | None:
    query = BY_KEYS_FOR_UPDATE if for_update else BY_KEYS
    return await conn.fetchrow(query, connector_keys, metric_key, location_key)


async def stats(conn: asyncpg.Connection, pipe_id: int) -> asyncpg.Record:
    return await conn.fetchrow(STATS, pipe_id)


async def page(conn: asyncpg.Connection, *, connector_keys: str | None, metric_key: str | None,
               filter_location: bool, location_key: str | None, limit: int,
               offset: int, patterns: tuple[list, list, list] | None = None
               ) -> tuple[list[asyncpg.Record], int]:
    """A page of pipes and how many match; `patterns` (PipeAccess.columns): only the pipes
    they match."""
    cks, mks, lks = patterns if patterns is not None else (None, None, None)
    args = (connector_keys, metric_key, filter_location, location_key, cks, mks, lks)
    rows = await conn.fetch(PAGE, *args, limit, offset)
    total = await conn.fetchval(COUNT, *args)
    return rows, total


async def set_parameters(conn: asyncpg.Connection, pipe_id: int,
                         parameters: dict) -> asyncpg.Record:
    return await conn.fetchrow(SET_PARAMETERS, pipe_id, parameters)


async def delete(conn: asyncpg.Connection, pipe_id: int) -> None:
    await conn.execute(DELETE, pipe_id)


class Contended(Exception):
    """`write_rows_at_once` met rows that another writer inserted after it began; nothing
    was written."""


CONTENDED = "MRC01"  # the SQLSTATE of mrsm_rows_contended()


def _row_arguments(pipes: list[Keys], bodies: list[str], slots: list[int],
                   timestamps: list[str], sources: list[int],
                   positions: list[int]) -> tuple:
    """WRITE_ROWS's arguments but the last, those that say nothing left NULL: each array
    element is a Python call in asyncpg's encoder."""
    count = len(timestamps)
    return ([k[0] for k in pipes], [k[1] for k in pipes], [k[2] for k in pipes],
            None if len(pipes) == 1 else _array(map(str, slots)),
            _array(timestamps),
            None if len(bodies) == 1 else _array(map(str, sources)),
            bodies,
            None if len(bodies) == 1 and positions == list(range(count))
            else _array(map(str, positions)))


def _array(elements: Iterable[str]) -> str:
    """PostgreSQL's text of an array of elements that need no quoting."""
    return "{" + ",".join(elements) + "}"


def _outcome(row: asyncpg.Record, todo: list[int], slots: list[int],
             outcome: list[bool | None]) -> set[int]:
    """Fill outcome[todo[k]] from a WRITE_ROWS result; the slots of the pipes it found."""
    for k in row["replaced"]:
        outcome[todo[k - 1]] = False
    found = {n - 1 for n in row["found"]}
    if row["fresh"] is None:  # no race: every other row of a found pipe is new
        for i in todo:
            if outcome[i] is None and slots[i] in found:
                outcome[i] = True
    else:
        for k in row["fresh"]:
            outcome[todo[k - 1]] = True
    return found


async def write_rows_at_once(conn: asyncpg.Connection, pipes: list[Keys], bodies: list[str],
                             slots: list[int], timestamps: list[str], sources: list[int],
                             positions: list[int]) -> tuple[set[int], list[bool | None]]:
    """`write_rows` in one statement that is its own transaction, committed when this
    returns: a round trip where BEGIN, the statement and COMMIT take three. Raises
    Contended, with nothing written, when another writer inserted some of the rows after
    the statement began; write them with `write_rows` in a transaction then."""
    if conn.is_in_transaction():
        raise RuntimeError("write_rows_at_once runs outside a transaction")
    try:
        row = await conn.fetchrow(WRITE_ROWS, *_row_arguments(
            pipes, bodies, slots, timestamps, sources, positions), True)
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == CONTENDED:
            raise Contended() from None
        raise
    outcome: list[bool | None] = [None] * len(timestamps)
    found = _outcome(row, list(range(len(timestamps))), slots, outcome)
    return found, outcome


async def write_rows(conn: asyncpg.Connection, pipes: list[Keys], bodies: list[str],
                     slots: list[int], timestamps: list[str], sources: list[int],
                     positions: list[int]) -> tuple[set[int], list[bool | None]]:
    """Write rows to several pipes: (the indices in `pipes` of those that exist, per row True
    if inserted, False if replaced, None if its pipe does not exist). `slots[i]` is the
    index in `pipes` of row i's pipe; its timestamp is `timestamps[i]` (ISO 8601 text with
    an offset, Rows.stamps); its values are those of row `positions[i]` of
    `bodies[sources[i]]` (Rows.body), its timestamp key left out; rows are distinct per
    (slot, timestamp).

    Run it in a transaction: a race with another writer may take more than one statement.
    """
    if not conn.is_in_transaction():
        raise RuntimeError("write_rows needs a transaction (it may take several statements)")
    outcome: list[bool | None] = [None] * len(timestamps)
    todo = list(range(len(timestamps)))  # rows not yet written, by index
    found: set[int] | None = None
    for _ in range(WRITE_TRIES):
        if len(todo) == len(timestamps):  # the first statement, almost always the only one
            arguments = _row_arguments(pipes, bodies, slots, timestamps, sources, positions)
        else:
            arguments = _row_arguments(pipes, bodies, [slots[i] for i in todo],
                                       [timestamps[i] for i in todo],
                                       [sources[i] for i in todo], [positions[i] for i in todo])
        now = _outcome(await conn.fetchrow(WRITE_ROWS, *arguments, False), todo, slots, outcome)
        if found is None:
            found = now
        else:
            # A pipe deleted since the first statement (none of its rows written yet, or
            # their locks would have held the deletion back) is gone for this write.
            found -= {slots[i] for i in todo} - now
        # Rows of a found pipe that are neither: inserted by another writer meanwhile.
        todo = [i for i in todo if outcome[i] is None and slots[i] in found]
        if not todo:
            return found, outcome
    raise RuntimeError(f"rows still contended after {WRITE_TRIES} statements")


async def create_pipes(conn: asyncpg.Connection, pipes: list[Keys]) -> None:
    """Register these pipes with no parameters; those that exist are left as they are."""
    await conn.execute(CREATE_PIPES, [k[0] for k in pipes], [k[1] for k in pipes],
                       [k[2] for k in pipes])


async def upsert_rows(conn: asyncpg.Connection, connector_keys: str, metric_key: str,
                      location_key: str | None, rows: Rows) -> tuple[int, int] | None:
    """Write a request's rows (parse_rows) to the pipe with these keys, all or none;
    (inserted, updated), or None when there is no such pipe."""
    count = len(rows.timestamps)
    async with conn.transaction():  # a savepoint inside the caller's transaction
        found, outcome = await write_rows(conn, [(connector_keys, metric_key, location_key)],
                                          [rows.body], [0] * count, rows.stamps,
                                          [0] * count, rows.positions)
    if not found:
        return None
    inserted = sum(1 for fresh in outcome if fresh)
    return inserted, len(outcome) - inserted


async def rows(conn: asyncpg.Connection, pipe_id: int, begin: datetime | None,
               end: datetime | None, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(ROWS, pipe_id, begin, end, limit)


async def delete_rows(conn: asyncpg.Connection, pipe_id: int, begin: datetime | None,
                      end: datetime | None) -> int:
    return await conn.fetchval(DELETE_ROWS, pipe_id, begin, end)
