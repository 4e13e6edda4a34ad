"""The limit: a bare aiohttp app, one JSON route, no middleware.

    python bench/bare_app.py PORT [reuse] [middleware]

`reuse` shares the port with other processes (SO_REUSEPORT); `middleware` adds one aiohttp
middleware that only awaits the handler: what the service's front costs before it does
anything (bench/instructions.py).
"""

import sys

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@web.middleware
async def passthrough(request: web.Request, handler) -> web.StreamResponse:
    return await handler(request)


def main() -> None:
    options = sys.argv[2:]
    app = web.Application(middlewares=[passthrough] if "middleware" in options else [])
    app.router.add_get("/", hello)
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
