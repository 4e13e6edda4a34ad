"""The pipe methods of `sql:` connectors: straight on the database, by the routes' rules.

A mixin of `SQLConnector`, which provides `_connection()` (errors become InstanceError)
and `_validate(schema, body)`. Input is checked with the routes' own schemas and helpers,
then written with `service.pipes.repo`, as the /pipes handlers do.
"""

from __future__ import annotations

import json

from service.errors import ApiError
from service.pipes import ops, repo
from service.pipes.merge import merge_patch
from service.pipes.repo import Keys
from service.pipes.rows import parse_rows, row_json
from service.pipes.schemas import (
    NO_LOCATION,
    PipeCreateSchema,
    PipeQuerySchema,
    PipeUpdateSchema,
    ReadQuerySchema,
    pipe_out,
)
from service.sdk.base import InstanceError
from service.validation import check_depth

READ_PAGE = 10_000  # rows fetched per query while reading a pipe whole



def _instance_error(err: ApiError) -> InstanceError:
    return InstanceError(err.description, status=err.status, code=err.code, fields=err.fields)


def _checked_keys(connector_keys: str, metric_key: str, location_key: str | None) -> Keys:
    """The keys, or the 422 the routes give for a malformed key in the path."""
    bad = ops.key_errors(connector_keys, metric_key, location_key)
    if bad:
        raise InstanceError("The pipe's keys are not valid.", status=422,
                            code="validation_error", fields=bad)
    return connector_keys, metric_key, location_key


def _storable(body: dict, field: str = "parameters") -> None:
    try:
        check_depth(body)
        ops.storable(body[field], field)
    except ApiError as err:
        raise _instance_error(err) from None


class SQLPipes:
    """The pipe methods of BaseConnector, for a class with `_connection` and `_validate`."""

    async def apipe_page(self, *, filters: dict, limit: int = 100, offset: int = 0) -> dict:
        query = self._validate(PipeQuerySchema(), {**filters, "limit": limit, "offset": offset})
        location = query.get("location_key")
        async with self._connection(transaction=False) as conn:
            rows, total = await repo.page(
                conn, connector_keys=query.get("connector_keys"),
                metric_key=query.get("metric_key"), filter_location=location is not None,
                location_key=None if location == NO_LOCATION else location,
                limit=query["limit"], offset=query["offset"])
        return {"items": [pipe_out(r) for r in rows], "total": total,
                "limit": query["limit"], "offset": query["offset"]}

    async def aget_pipe(self, connector_keys: str, metric_key: str,
                        location_key: str | None) -> dict:
        keys = _checked_keys(connector_keys, metric_key, location_key)
        async with self._connection(transaction=False) as conn, conn.transaction(
                isolation="repeatable_read", readonly=True):
            row = await ops.existing(conn, keys)
            return pipe_out(row, await repo.stats(conn, row["id"]))

    async def acreate_pipe(self, body: dict) -> dict:
        data = self._validate(PipeCreateSchema(), body)
        _storable(data)
        async with self._connection() as conn:
            row = await repo.insert(conn, data["connector_keys"], data["metric_key"],
                                    data["location_key"], data["parameters"])
        if row is None:
            raise InstanceError("A pipe with these keys exists.", status=409, code="conflict")
        return pipe_out(row, {"row_count": 0, "first_timestamp": None, "last_timestamp": None})

    async def aedit_pipe(self, connector_keys: str, metric_key: str, location_key: str | None,
                         patch: dict) -> dict:
        keys = _checked_keys(connector_keys, metric_key, location_key)
        body = self._validate(PipeUpdateSchema(), {"parameters": patch})
        _storable(body)
        async with self._connection() as conn:
            # FOR UPDATE: two concurrent edits merge one after the other, none is lost.
            row = await ops.existing(conn, keys, for_update=True)
            merged = {"parameters": merge_patch(row["parameters"], body["parameters"])}
            _storable(merged)
            row = await repo.set_parameters(conn, row["id"], merged["parameters"])
            return pipe_out(row, await repo.stats(conn, row["id"]))

    async def adelete_pipe(self, connector_keys: str, metric_key: str,
                           location_key: str | None) -> None:
        keys = _checked_keys(connector_keys, metric_key, location_key)
        async with self._connection() as conn:
            row = await ops.existing(conn, keys)
            await repo.delete(conn, row["id"])

    async def awrite_rows(self, connector_keys: str, metric_key: str, location_key: str | None,
                          rows: list[dict], *, create: bool = False) -> dict:
        keys = _checked_keys(connector_keys, metric_key, location_key)
        try:
            check_depth(rows)
            batch = parse_rows(rows)
        except ApiError as err:
            raise _instance_error(err) from None
        async with self._connection() as conn:
            written = await repo.upsert_rows(conn, *keys, batch)
            if written is None and create:
                # As POST {pipe}/data?create=true: register the pipe and write, together.
                await repo.insert(conn, *keys, {})
                written = await repo.upsert_rows(conn, *keys, batch)
        if written is None:
            raise InstanceError("No such pipe; register it first, or write with create=True.",
                                status=404, code="not_found")
        return {"inserted": written[0], "updated": written[1]}

    async def aread_rows(self, connector_keys: str, metric_key: str, location_key: str | None,
                         *, begin: str | None = None, end: str | None = None) -> list[dict]:
        keys = _checked_keys(connector_keys, metric_key, location_key)
        bounds = {name: value for name, value in (("begin", begin), ("end", end))
                  if value is not None}
        query = self._validate(ReadQuerySchema(), bounds)
        out: list[dict] = []
        # One snapshot for every page, so that a concurrent write cannot tear the read.
        async with self._connection(transaction=False) as conn, conn.transaction(
                isolation="repeatable_read", readonly=True):
            row = await ops.existing(conn, keys)
            start = query.get("begin")
            while True:
                found = await repo.rows(conn, row["id"], start, query.get("end"), READ_PAGE + 1)
                out.extend(json.loads(row_json(r["ts"], r["values_text"]))
                           for r in found[:READ_PAGE])
                if len(found) <= READ_PAGE:
                    return out
                start = found[READ_PAGE]["ts"]
