"""Benchmark: the cost of one synchronous Python API call (`conn.get_token(id)`).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python -m bench.sdk_calls

Against a throwaway database (dropped at the end) and a service process this script starts
on a free port of 127.0.0.1, times N sequential calls of:
  sql:  `get_connector('sql:main').get_token(id)` (the SDK loop keeps a pool), against the
        baseline of the same repository call on one kept asyncpg connection, and against a
        fresh connection per call (what each call would cost without a kept pool);
  api:  `get_connector('api:main').get_token(id)` with an API key, against the baseline of
        a bare aiohttp GET /tokens/{id} on one kept session with the same key.
Prints the median and p95 in milliseconds and the ratio to each baseline.
Without DATABASE_URL, an embedded pgserver in a temporary directory is used.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp
import asyncpg

import service as mrsm
from bench.pipes_write import free_port, quote_ident, server_dsn
from service.config import PROJECT_ROOT
from service.db import _init_connection, migrate
from service.tokens import ops
from service.tokens.schemas import token_out

CHEAP = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "8", "ARGON2_PARALLELISM": "1"}


def timings(call: Callable[[], object], n: int) -> tuple[float, float]:
    call()  # warm up
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def atimings(one, n: int) -> tuple[float, float]:
    return asyncio.run(atimings_inner(one, n))


def report(label: str, figures: tuple[float, float], baseline: tuple[float, float] | None) -> None:
    ratio = f"  x{figures[0] / baseline[0]:.2f} of the baseline" if baseline else ""
    print(f"  {label:<58} median {figures[0]:7.2f} ms  p95 {figures[1]:7.2f} ms{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=300, help="calls per phase")
    n = parser.parse_args().n
    with server_dsn() as admin_dsn:
        name = f"mrsm_bench_sdk_{secrets.token_hex(3)}"
        dsn = admin_dsn.rsplit("/", 1)[0] + "/" + name

        async def setup() -> None:
            conn = await asyncpg.connect(admin_dsn)
            await conn.execute(f"CREATE DATABASE {quote_ident(name)}")
            await conn.close()
            conn = await asyncpg.connect(dsn)
            await migrate(conn, PROJECT_ROOT / "migrations")
            await conn.close()

        asyncio.run(setup())
        os.environ.update(CHEAP, DATABASE_URL=dsn)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "service"], cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PORT": str(port), "ADMIN_USERNAME": "bench",
                 "ADMIN_PASSWORD": secrets.token_urlsafe(12), "LOG_LEVEL": "WARNING",
                 "ACCESS_LOG": "0"})
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    urllib.request.urlopen(url + "/healthz", timeout=1).close()  # noqa: S310
                    break
                except OSError:
                    time.sleep(0.1)
            run_phases(n, dsn, url)
        finally:
            server.terminate()
            server.wait(timeout=15)
            mrsm.clear_connectors()

            async def drop() -> None:
                conn = await asyncpg.connect(admin_dsn)
                await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
                await conn.close()

            asyncio.run(drop())


def run_phases(n: int, dsn: str, url: str) -> None:
    assert mrsm.User("bench-user", password=secrets.token_urlsafe(12)).register()[0]
    token = mrsm.Token(label="bench", user="bench-user")
    assert token.register()[0]
    token_id = str(token.id)
    print(f"{n} sequential calls of get_token(id), each phase after one warm-up call:")

    async def kept_connection():
        conn = await asyncpg.connect(dsn)
        await _init_connection(conn)
        try:
            async def one():
                row = await ops.visible_token(conn, ops.OPERATOR, token_id)
                return token_out(row, datetime.now(UTC))
            return await atimings_inner(one, n)
        finally:
            await conn.close()

    async def fresh_connection():
        conn = await asyncpg.connect(dsn)
        try:
            await _init_connection(conn)
            return token_out(await ops.visible_token(conn, ops.OPERATOR, token_id),
                             datetime.now(UTC))
        finally:
            await conn.close()

    sql_base = asyncio.run(kept_connection())
    report("sql baseline: repository call on one kept connection", sql_base, None)
    report("sql without a kept pool: a fresh connection per call", atimings(fresh_connection, n),
           sql_base)
    sql = mrsm.get_connector("sql:main")
    report("sql:main get_token (sync API, SDK loop, kept pool)",
           timings(lambda: sql.get_token(token_id), n), sql_base)

    headers = {"Authorization": token.get_api_key()}

    async def raw_http():
        async with aiohttp.ClientSession() as session:
            async def one():
                async with session.get(f"{url}/tokens/{token_id}", headers=headers) as resp:
                    return await resp.json()
            return await atimings_inner(one, n)

    api_base = asyncio.run(raw_http())
    report("api baseline: aiohttp GET /tokens/{id}, one kept session", api_base, None)
    api = mrsm.get_connector("api:x", url=url, api_key=token.get_api_key())
    report("api get_token (sync API, SDK loop, kept session)",
           timings(lambda: api.get_token(token_id), n), api_base)


async def atimings_inner(one, n: int) -> tuple[float, float]:
    await one()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await one()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


if __name__ == "__main__":
    main()
