"""The limit: a bare aiohttp app, one JSON route, no middleware. `python bench/bare_app.py PORT`."""

import sys

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    app = web.Application()
    app.router.add_get("/", hello)
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = None
    reuse = len(sys.argv) > 2 and sys.argv[2] == "reuse"
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None,
                loop=loop, reuse_port=reuse)


if __name__ == "__main__":
    main()
