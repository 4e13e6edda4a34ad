"""What logging and metrics cost an authenticated request.

    python -m bench.observability [--seconds 5] [--rounds 3]

GET /users/me with a raw API key (cached after the first request), wrk -t2 -c16 from
127.0.0.1, one worker, three servers started in turn, round after round:
  0. the app without the observability middleware (no request id, metrics or log line);
  1. as shipped with ACCESS_LOG=0 (request id and metrics);
  2. as shipped with ACCESS_LOG=1, the default (and the one JSON line per request, to a file).
Prints each figure, the median of each over the rounds and (1)/(0), (2)/(0). Uses
DATABASE_URL (a throwaway database, dropped at the end) or an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import aiohttp

from bench import wrk
from service.config import PROJECT_ROOT
from tests.db import test_database
from tests.servers import free_port

ADMIN = ("bench-admin", "bench-admin-password")
VARIANTS = (("without the observability middleware", "bare", "0"),
            ("request id + metrics (ACCESS_LOG=0)", "shipped", "0"),
            ("request id + metrics + log line (default)", "shipped", "1"))


def serve(variant: str) -> None:
    """The child process: the app as shipped, or without its first (observability) middleware."""
    from aiohttp import web

    from service.app import create_app
    from service.config import Settings
    from service.server import configure_logging

    settings = Settings.from_env()
    configure_logging(settings)
    app = create_app(settings)
    if variant == "bare":
        app.middlewares.pop(0)
    try:
        import uvloop
        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is optional
        loop = None
    web.run_app(app, host="127.0.0.1", port=settings.port, access_log=None, print=None,
                loop=loop)


def start(database_url: str, variant: str, access_log: str, log_file: Path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PORT": str(port),
           "ADMIN_USERNAME": ADMIN[0], "ADMIN_PASSWORD": ADMIN[1], "ACCESS_LOG": access_log,
           "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "8", "ARGON2_PARALLELISM": "1"}
    with log_file.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "bench.observability", "--serve",
                                    variant], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1).close()
            return process, url
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited; see {log_file}") from None
            asyncio.run(asyncio.sleep(0.05))
    raise RuntimeError("the server did not start")


async def api_key(url: str) -> str:
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/login", data={
                "grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}) as r:
            bearer = {"Authorization": f"Bearer {(await r.json())['access_token']}"}
        async with session.post(url + "/tokens", json={}, headers=bearer) as r:
            return (await r.json())["api_key"]


async def prepare(database_url: str) -> None:
    from service.config import Settings
    from service.server import prepare as migrate_and_admin

    await migrate_and_admin(Settings.from_env({"DATABASE_URL": database_url,
                                               "ADMIN_USERNAME": ADMIN[0],
                                               "ADMIN_PASSWORD": ADMIN[1],
                                               "ARGON2_TIME_COST": "1",
                                               "ARGON2_MEMORY_COST": "8",
                                               "ARGON2_PARALLELISM": "1"}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the cost of logging and metrics")
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per figure")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return
    figures: dict[int, list[float]] = {i: [] for i in range(len(VARIANTS))}
    with test_database() as (database_url, _, source), tempfile.TemporaryDirectory() as tmp:
        print(f"database: {source}; server logs in {tmp} (deleted at the end)")
        asyncio.run(prepare(database_url))
        for round_ in range(args.rounds):
            for i, (name, variant, access_log) in enumerate(VARIANTS):
                process, url = start(database_url, variant, access_log,
                                     Path(tmp) / f"{variant}-{access_log}.log")
                try:
                    key = asyncio.run(api_key(url))
                    headers = {"Authorization": key}
                    wrk.run("warm-up", url + "/users/me", seconds=1, headers=headers)
                    result = wrk.run(f"({i}) {name}", url + "/users/me",
                                     seconds=args.seconds, headers=headers)
                finally:
                    process.terminate()
                    process.wait(timeout=20)
                print(f"round {round_ + 1}" + result.line(), flush=True)
                figures[i].append(result.rps)
    medians = {i: statistics.median(values) for i, values in figures.items()}
    for i, (name, _, _) in enumerate(VARIANTS):
        print(f"  median ({i}) {name:<44} {medians[i]:>10,.0f} req/s")
    base = medians[0]
    print(f"  ratios: (1)/(0) {medians[1] / base:.2f}   (2)/(0) {medians[2] / base:.2f}")


if __name__ == "__main__":
    main()
