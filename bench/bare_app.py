"""The limit: a bare aiohttp app, one JSON route, no middleware.

    python bench/bare_app.py PORT [reuse] [middleware] [pipes]

`reuse` shares the port with other processes (SO_REUSEPORT); `middleware` adds one aiohttp
middleware that only awaits the handler: what the service's front costs before it does
anything (bench/instructions.py). `pipes` adds `POST /pipes/{ck}/{mk}/{lk}/data` on the
database named by DATABASE_URL (a pool of DB_POOL_MAX connections, 10 by default, as the
service's): each request's rows upserted in one statement, hence one transaction of its
own, with no authentication, no validation beyond what JSON decoding does, and no logging
(bench/pipes_ingest.py).
"""

import json
import os
import sys
from datetime import datetime

from aiohttp import web

# One statement per request: its own transaction, one round trip. (xmax = 0) tells a fresh
# row from a replaced one on this plain table.
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
POOL = web.AppKey("pool", object)


async def hello(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def write_rows(request: web.Request) -> web.Response:
    rows = await request.json()
    stamps = [datetime.fromisoformat(row["timestamp"]) for row in rows]
    values = [json.dumps({k: v for k, v in row.items() if k != "timestamp"}) for row in rows]
    info = request.match_info
    location = None if info["lk"] == "-" else info["lk"]
    async with request.app[POOL].acquire() as conn:
        row = await conn.fetchrow(UPSERT, info["ck"], info["mk"], location, stamps, values)
    if row["pipe_id"] is None:
        return web.json_response({"error": "not_found"}, status=404)
    return web.json_response({"inserted": row["inserted"], "updated": row["updated"]})


async def pool_ctx(app: web.Application):
    import asyncpg

    app[POOL] = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=1,
                                          max_size=int(os.environ.get("DB_POOL_MAX", "10")))
    yield
    await app[POOL].close()


@web.middleware
async def passthrough(request: web.Request, handler) -> web.StreamResponse:
    return await handler(request)


def main() -> None:
    options = sys.argv[2:]
    app = web.Application(middlewares=[passthrough] if "middleware" in options else [])
    app.router.add_get("/", hello)
    if "pipes" in options:
        app.router.add_post("/pipes/{ck}/{mk}/{lk}/data", write_rows)
        app.cleanup_ctx.append(pool_ctx)
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = None
    reuse = "reuse" in options
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None,
                loop=loop, reuse_port=reuse)


if __name__ == "__main__":
    main()
