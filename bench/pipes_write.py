"""Benchmark: writing pipe rows through the HTTP API vs. straight into PostgreSQL.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/pipes_write.py

Writes 100,000 rows in batches of 100 (1,000 requests) through POST /pipes/.../data with an
API key holding only write:pipes, against a server process this script starts on a free port
of 127.0.0.1; then makes the same batches directly with asyncpg (one upsert statement per
batch, its own transaction, as bench/bare_app.py runs; and row-by-row executemany for
comparison), in the same
run, against a throwaway database that is dropped at the end. Each phase writes a fresh pipe,
so every row is an insert. Bodies and arguments are built before the clock starts.
Prints rows per second and the ratio of HTTP to direct. Bounded: --timeout seconds in all.
Without DATABASE_URL, an embedded pgserver in a temporary directory is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

from bench.bare_app import UPSERT
from service.config import PROJECT_ROOT, Settings
from service.db import create_pool, migrate
from service.pipes import repo

ADMIN = ("bench-admin", secrets.token_urlsafe(12))
START = datetime(2024, 1, 1, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def server_dsn():
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    from service.embedded import start_embedded

    with tempfile.TemporaryDirectory(prefix="mrsm-bench-") as tmp:
        server, dsn = start_embedded(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            yield dsn
        finally:
            server.cleanup()


def batches(total: int, size: int, offset_s: int) -> list[list[dict]]:
    """Rows one second apart, `size` to a batch; `offset_s` keeps phases apart in time."""
    rows = [{"timestamp": (START + timedelta(seconds=offset_s + i)).isoformat(),
             "temperature": 20 + (i % 100) / 10, "humidity": 40 + i % 7}
            for i in range(total)]
    return [rows[i:i + size] for i in range(0, total, size)]


async def timed(label: str, rows: int, jobs: list[Callable[[], Awaitable]],
                concurrency: int) -> float:
    """Run `jobs` with `concurrency` workers; print and return rows per second."""
    queue = list(reversed(jobs))

    async def worker():
        while queue:
            await queue.pop()()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    rate = rows / elapsed
    print(f"  {label:<44} {rows:>7} rows {elapsed:7.2f} s {rate:>9,.0f} rows/s", flush=True)
    return rate


async def start_server(dsn: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": dsn, "PORT": str(port), "HOST": "127.0.0.1",
           "ADMIN_USERNAME": ADMIN[0], "ADMIN_PASSWORD": ADMIN[1], "ACCESS_LOG": "0",
           "LOG_LEVEL": "WARNING", "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "8",
           "ARGON2_PARALLELISM": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "service"], cwd=PROJECT_ROOT, env=env,  # noqa: ASYNC220
                            stdout=subprocess.DEVNULL)
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if proc.poll() is not None:
                raise SystemExit(f"the server exited with {proc.returncode}")
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return proc
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not answer within 30 s")


async def device_key(session: aiohttp.ClientSession, base: str) -> str:
    """Log in as the admin, make a token holding only write:pipes, return its API key."""
    async with session.post(base + "/login", data={"grant_type": "password",
                                                   "username": ADMIN[0],
                                                   "password": ADMIN[1]}) as resp:
        assert resp.status == 200, await resp.text()
        jwt = (await resp.json())["access_token"]
    async with session.post(base + "/tokens", json={"label": "bench device",
                                                    "scopes": ["write:pipes"]},
                            headers={"Authorization": f"Bearer {jwt}"}) as resp:
        assert resp.status == 201, await resp.text()
        return (await resp.json())["api_key"]


async def http_phase(base: str, key: str, location: str, args, concurrency: int) -> float:
    path = f"{base}/pipes/bench:http/temperature/{location}/data?create=true"
    bodies = [json.dumps(b).encode() for b in batches(args.rows, args.batch, 0)]
    headers = {"Authorization": key, "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        def job(body: bytes):
            async def post():
                async with session.post(path, data=body, headers=headers) as resp:
                    if resp.status != 200:
                        raise SystemExit(f"HTTP {resp.status}: {await resp.text()}")
                    await resp.read()
            return post

        return await timed(f"HTTP API, API key, {concurrency} client(s)", args.rows,
                           [job(b) for b in bodies], concurrency)


async def direct_phase(pool: asyncpg.Pool, location: str, args, concurrency: int,
                       row_by_row: bool) -> float:
    async with pool.acquire() as conn:
        pipe = await repo.insert(conn, "bench:direct", "temperature", location, {})
    prepared = []
    for batch in batches(args.rows, args.batch, 0):
        stamps = [datetime.fromisoformat(r["timestamp"]) for r in batch]
        values = [json.dumps({k: v for k, v in r.items() if k != "timestamp"}) for r in batch]
        prepared.append((stamps, values))

    def job(stamps, values):
        async def write():
            async with pool.acquire() as conn:
                if row_by_row:
                    async with conn.transaction():
                        await conn.executemany(
                            'INSERT INTO pipe_rows (pipe_id, ts, "values") '
                            "VALUES ($1, $2, $3::text::jsonb) ON CONFLICT (pipe_id, ts) "
                            'DO UPDATE SET "values" = EXCLUDED."values"',
                            [(pipe["id"], ts, v) for ts, v in zip(stamps, values, strict=True)])
                else:
                    # One statement, its own transaction: the fastest way to write a batch.
                    await conn.fetchrow(UPSERT, "bench:direct", "temperature", location,
                                        stamps, values)
        return write

    how = "executemany, row by row" if row_by_row else "one upsert statement"
    return await timed(f"asyncpg direct ({how}), {concurrency} conn(s)", args.rows,
                       [job(*p) for p in prepared], concurrency)


async def run(dsn: str, args) -> None:
    port = free_port()
    proc = await start_server(dsn, port)
    base = f"http://127.0.0.1:{port}"
    # The service's own pool set-up (its jsonb codecs), sized for the direct writers.
    pool = await create_pool(Settings(database_url=dsn), min_size=1,
                             max_size=max(args.concurrency, 1))
    try:
        async with aiohttp.ClientSession() as session:
            key = await device_key(session, base)
        print(f"{args.rows:,} rows in batches of {args.batch}; server on {base}", flush=True)
        results = []
        for n, concurrency in enumerate(sorted({1, args.concurrency})):
            http = await http_phase(base, key, f"c{n}", args, concurrency)
            direct = await direct_phase(pool, f"c{n}", args, concurrency, row_by_row=False)
            await direct_phase(pool, f"rbr{n}", args, concurrency, row_by_row=True)
            results.append((concurrency, http, direct))
        for concurrency, http, direct in results:
            print(f"  ratio HTTP / direct with {concurrency} writer(s): {http / direct:.2f} "
                  f"({http:,.0f} vs {direct:,.0f} rows/s)")
    finally:
        await pool.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def main(args) -> None:
    with server_dsn() as admin_dsn:
        name = f"mrsm_bench_{os.getpid()}_{secrets.token_hex(3)}"
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f"CREATE DATABASE {quote_ident(name)}")
        await conn.close()
        dsn = urlunsplit(urlsplit(admin_dsn)._replace(path="/" + name))
        try:
            conn = await asyncpg.connect(dsn)
            try:
                await migrate(conn, PROJECT_ROOT / "migrations")
            finally:
                await conn.close()
            async with asyncio.timeout(args.timeout):
                await run(dsn, args)
        finally:
            conn = await asyncpg.connect(admin_dsn)
            await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
            await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8,
                        help="also run every phase with this many writers (1 always runs)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for the whole run")
    asyncio.run(main(parser.parse_args()))
