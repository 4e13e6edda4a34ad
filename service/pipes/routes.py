"""/pipes: register, list, read, change and delete pipes; write, read and delete their rows."""

from __future__ import annotations

from urllib.parse import urlencode

import asyncpg
from aiohttp import web

from service import keys
from service.auth.errors import insufficient_scope
from service.auth.scopes import requires
from service.caller import principal_of
from service.errors import ApiError, not_found
from service.openapi import doc
from service.pipes import ops, repo
from service.pipes.ingest import Pending
from service.pipes.merge import merge_patch
from service.pipes.repo import Keys
from service.pipes.rows import page_csv, page_json, parse_rows
from service.pipes.schemas import (
    KEY_PATTERN,
    NO_LOCATION,
    ROWS_BODY,
    ROWS_PAGE,
    DeletedSchema,
    DeleteRangeQuerySchema,
    PipeCreateSchema,
    PipeDetailSchema,
    PipeListSchema,
    PipeQuerySchema,
    PipeUpdateSchema,
    ReadQuerySchema,
    WriteQuerySchema,
    WrittenSchema,
    pipe_out,
)
from service.validation import isoformat, load_body, load_query, read_json

routes = web.RouteTableDef()
PIPE = "/pipes/{connector_keys}/{metric_key}/{location_key}"
DATA = PIPE + "/data"
_KEY_SCHEMA = {"type": "string", "pattern": KEY_PATTERN}
_PATH = {
    "connector_keys": _KEY_SCHEMA,
    "metric_key": _KEY_SCHEMA,
    "location_key": {"type": "string", "pattern": KEY_PATTERN,
                     "description": "'-' for a pipe without a location"},
}
# What a write's query string asks, by query string: devices send the same one (none, or
# ?create=true) on every request, and building a schema each time was a tenth of a write's
# CPU. Bounded, so that odd query strings cannot grow it.
_CREATES: dict[str, bool] = {"": False}
_CREATES_MAX = 64


def creates(request: web.Request) -> bool:
    """Whether a write asks for its pipe to be registered if missing (?create=true)."""
    found = _CREATES.get(request.query_string)
    if found is None:
        found = load_query(request, WriteQuerySchema())["create"]
        if len(_CREATES) < _CREATES_MAX:
            _CREATES[request.query_string] = found
    return found


def path_keys(request: web.Request) -> Keys:
    """The pipe's keys from the path ('-' as location: none); a 422 for a malformed key,
    a 404 for a pipe beyond the caller's reach (`within_reach`)."""
    return within_reach(request, keys_in_path(request))


def keys_in_path(request: web.Request) -> Keys:
    """The pipe's keys from the path, whatever the caller may reach; a 422 for a malformed
    key."""
    info = request.match_info
    location = info["location_key"]
    keys_ = (info["connector_keys"], info["metric_key"],
             None if location == NO_LOCATION else location)
    bad = ops.key_errors(*keys_)
    if bad:
        raise ApiError(422, "validation_error", "The pipe's keys in the path are not valid.",
                       fields=bad)
    return keys_


def within_reach(request: web.Request, keys_: Keys, *, creating: bool = False) -> Keys:
    """The keys, when the caller's credential may reach that pipe. For a credential bound
    to other pipes the pipe does not exist (404, as if it did not), and creating it is a
    403: nothing tells whether it exists."""
    reach = principal_of(request).pipes
    if reach is None or reach.allows(*keys_):
        return keys_
    if creating:
        name = "/".join((keys_[0], keys_[1], keys_[2] or NO_LOCATION))
        raise insufficient_scope(frozenset(), f"This credential may not create the pipe "
                                 f"{name}: it is bound to other pipes.")
    raise not_found("pipe")


def pipe_path(row) -> str:
    return "/pipes/{}/{}/{}".format(row["connector_keys"], row["metric_key"],
                                    row["location_key"] or NO_LOCATION)


@routes.post("/pipes")
@requires("write:pipes")
@doc("Register a pipe", tag="pipes", body=PipeCreateSchema, responses={201: PipeDetailSchema})
async def post_pipe(request: web.Request) -> web.Response:
    body = await load_body(request, PipeCreateSchema())
    within_reach(request, (body["connector_keys"], body["metric_key"], body["location_key"]),
                 creating=True)
    parameters = ops.storable(body["parameters"])
    async with request.app[keys.POOL].acquire() as conn:
        row = await repo.insert(conn, body["connector_keys"], body["metric_key"],
                                body["location_key"], parameters)
    if row is None:
        raise ApiError(409, "conflict", "A pipe with these keys exists.")
    out = pipe_out(row, {"row_count": 0, "first_timestamp": None, "last_timestamp": None})
    return web.json_response(out, status=201, headers={"Location": pipe_path(row)})


@routes.get("/pipes")
@requires("read:pipes")
@doc("List pipes, filtered by any of their keys", tag="pipes", query=PipeQuerySchema,
     responses={200: PipeListSchema})
async def list_pipes(request: web.Request) -> web.Response:
    query = load_query(request, PipeQuerySchema())
    location = query.get("location_key")
    reach = principal_of(request).pipes
    async with request.app[keys.POOL].acquire() as conn:
        rows, total = await repo.page(
            conn, connector_keys=query.get("connector_keys"), metric_key=query.get("metric_key"),
            filter_location=location is not None,
            location_key=None if location == NO_LOCATION else location,
            limit=query["limit"], offset=query["offset"],
            patterns=reach.columns() if reach is not None else None)
    return web.json_response({"items": [pipe_out(r) for r in rows], "total": total,
                              "limit": query["limit"], "offset": query["offset"]})


@routes.get(PIPE)
@requires("read:pipes")
@doc("Read a pipe, with its row count and time span", tag="pipes",
     responses={200: PipeDetailSchema}, path_params=_PATH)
async def get_pipe(request: web.Request) -> web.Response:
    keys_ = path_keys(request)
    # One snapshot, so that the count and the span agree.
    async with request.app[keys.POOL].acquire() as conn, conn.transaction(
            isolation="repeatable_read", readonly=True):
        row = await ops.existing(conn, keys_)
        stats = await repo.stats(conn, row["id"])
    return web.json_response(pipe_out(row, stats))


@routes.patch(PIPE)
@requires("write:pipes")
@doc("Merge parameters into a pipe's (RFC 7386 merge patch)", tag="pipes",
     body=PipeUpdateSchema, responses={200: PipeDetailSchema}, path_params=_PATH)
async def patch_pipe(request: web.Request) -> web.Response:
    keys_ = path_keys(request)
    body = await load_body(request, PipeUpdateSchema())
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        # FOR UPDATE: two concurrent patches merge one after the other, none is lost.
        row = await ops.existing(conn, keys_, for_update=True)
        merged = ops.storable(merge_patch(row["parameters"], body["parameters"]))
        row = await repo.set_parameters(conn, row["id"], merged)
        stats = await repo.stats(conn, row["id"])
    return web.json_response(pipe_out(row, stats))


@routes.delete(PIPE)
@requires("delete:pipes")
@doc("Delete a pipe and all its rows", tag="pipes", responses={204: None}, path_params=_PATH)
async def delete_pipe(request: web.Request) -> web.Response:
    keys_ = path_keys(request)
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        row = await ops.existing(conn, keys_)
        await repo.delete(conn, row["id"])
    return web.Response(status=204)


@routes.post(DATA)
@requires("write:pipes")
@doc("Write rows: a row whose timestamp exists is replaced; all rows land or none do",
     tag="pipes", body=ROWS_BODY, query=WriteQuerySchema, responses={200: WrittenSchema},
     path_params=_PATH)
async def post_rows(request: web.Request) -> web.Response:
    keys_ = keys_in_path(request)
    create = creates(request)
    within_reach(request, keys_, creating=create)
    data = await read_json(request)
    batch = parse_rows(data, await request.read())  # the body read_json read, kept by aiohttp
    try:
        # Written together with the other requests waiting; answered once its rows are committed.
        written = await request.app[keys.INGEST].write(Pending(keys_, batch, create=create))
    except asyncpg.ForeignKeyViolationError:
        written = None  # the pipe was deleted while we wrote
    except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
        # Another writer took the same rows in another order: nothing was written, and the
        # same request sent again succeeds.
        raise ApiError(503, description="The rows were contended; send them again.",
                       headers={"Retry-After": "1"}) from None
    except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError):
        # A row the table refuses, e.g. a timestamp outside every partition of pipe_rows,
        # or a value the database cannot read (class 22) that validation let through.
        raise ApiError(422, "validation_error", "The database refused these rows (for "
                       "example a timestamp outside the stored ranges); nothing was written.",
                       fields={"_schema": ["refused by the database"]}) from None
    if written is None:
        raise ApiError(404, "not_found",
                       "No such pipe; register it first, or write with ?create=true.")
    inserted, updated = written
    return web.json_response({"inserted": inserted, "updated": updated})


def wants_csv(request: web.Request) -> bool:
    """Whether the Accept header prefers text/csv to JSON (JSON when tied or absent)."""
    best: dict[str, float] = {}
    for part in request.headers.get("Accept", "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        best[media] = max(best.get(media, 0.0), quality)
    json_q = max(best.get("application/json", 0.0), best.get("*/*", 0.0),
                 best.get("application/*", 0.0))
    return best.get("text/csv", 0.0) > json_q


@routes.get(DATA)
@requires("read:pipes")
@doc("Read rows in time order, a page at a time (Accept: text/csv for CSV, the next page "
     "in the Link header)", tag="pipes", query=ReadQuerySchema,
     responses={200: ROWS_PAGE}, path_params=_PATH)
async def get_rows(request: web.Request) -> web.Response:
    keys_ = path_keys(request)
    query = load_query(request, ReadQuerySchema())
    limit = query["limit"]
    async with request.app[keys.POOL].acquire() as conn, conn.transaction(readonly=True):
        row = await ops.existing(conn, keys_)
        # One row more than asked: its timestamp is where the next page begins.
        found = await repo.rows(conn, row["id"], query.get("begin"), query.get("end"), limit + 1)
    rows = [(r["ts"], r["values_text"]) for r in found[:limit]]
    next_url = None
    if len(found) > limit:
        params = {"begin": isoformat(found[limit]["ts"])}
        if "end" in query:
            params["end"] = isoformat(query["end"])
        params["limit"] = str(limit)
        next_url = request.path + "?" + urlencode(params)
    if wants_csv(request):
        headers = {"Link": f'<{next_url}>; rel="next"'} if next_url else {}
        return web.Response(text=page_csv(rows), content_type="text/csv", headers=headers)
    return web.Response(text=page_json(rows, next_url), content_type="application/json")


@routes.delete(DATA)
@requires("delete:pipes")
@doc("Delete the rows in a time range (begin inclusive, end exclusive; at least one)",
     tag="pipes", query=DeleteRangeQuerySchema, responses={200: DeletedSchema},
     path_params=_PATH)
async def delete_rows(request: web.Request) -> web.Response:
    keys_ = path_keys(request)
    query = load_query(request, DeleteRangeQuerySchema())
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        row = await ops.existing(conn, keys_)
        deleted = await repo.delete_rows(conn, row["id"], query.get("begin"), query.get("end"))
    return web.json_response({"deleted": deleted})

