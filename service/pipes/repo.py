"""Pipes and their rows in PostgreSQL. Plain functions taking a connection; the caller owns
the transaction.

A pipe without a location has location_key NULL; every lookup compares
coalesce(location_key, '') so that it uses the unique index on the key triple.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

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

# The whole write in one statement, so one round trip and its own transaction: the
# arrays carry every row, and RETURNING (xmax = 0) tells a fresh insert (no prior version)
# from a replaced row, atomically even with concurrent writers. Timestamps arrive distinct
# (deduplicated by the caller), which ON CONFLICT DO UPDATE requires. pipe_id comes back
# NULL (and nothing is written) when the pipe does not exist.
UPSERT = """
WITH pipe AS (
    SELECT id FROM pipes
    WHERE connector_keys = $1 AND metric_key = $2
      AND coalesce(location_key, '') = coalesce($3, '')
), written AS (
    INSERT INTO pipe_rows (pipe_id, ts, "values")
    SELECT pipe.id, u.ts, u.v::jsonb
    FROM pipe, unnest($4::timestamptz[], $5::text[]) AS u(ts, v)
    ON CONFLICT (pipe_id, ts) DO UPDATE SET "values" = EXCLUDED."values"
    RETURNING (xmax = 0) AS fresh
)
SELECT (SELECT id FROM pipe) AS pipe_id,
       count(*) FILTER (WHERE fresh) AS inserted, count(*) FILTER (WHERE NOT fresh) AS updated
FROM written
"""
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


async def upsert_rows(conn: asyncpg.Connection, connector_keys: str, metric_key: str,
                      location_key: str | None, timestamps: list[datetime],
                      values: list[str]) -> tuple[int, int] | None:
    """Write rows (distinct timestamps, values as JSON object text) to the pipe with these
    keys, in one statement; (inserted, updated), or None when there is no such pipe."""
    row = await conn.fetchrow(UPSERT, connector_keys, metric_key, location_key,
                              timestamps, values)
    if row["pipe_id"] is None:
        return None
    return row["inserted"], row["updated"]


async def rows(conn: asyncpg.Connection, pipe_id: int, begin: datetime | None,
               end: datetime | None, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(ROWS, pipe_id, begin, end, limit)


async def delete_rows(conn: asyncpg.Connection, pipe_id: int, begin: datetime | None,
                      end: datetime | None) -> int:
    return await conn.fetchval(DELETE_ROWS, pipe_id, begin, end)
