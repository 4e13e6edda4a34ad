"""API-key latency while 64 clients flood /login with bad passwords.

    python -m bench.login_flood [--seconds 5] [--port 8400]

Starts the service (production argon2 cost: ARGON2_* unset; HASH_WORKERS=2, HASH_QUEUE=64)
on a throwaway database (DATABASE_URL's server, or an embedded PostgreSQL), measures
sequential API-key requests alone (the baseline), then again while 64 concurrent clients
keep sending wrong passwords, and prints p50/p99 latency and the ratio to the baseline.
Twice: with throttling off (only the bounded hash pool protects) and on (the defaults:
the flood is soon answered 429 without hashing). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time

import aiohttp

from tests.support.db import test_database
from tests.support.servers import run_server

FLOOD = 64
ADMIN = ("bench-admin", "bench-admin-password")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def api_key_latencies(session: aiohttp.ClientSession, url: str, key: str,
                            seconds: float) -> list[float]:
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        async with session.get(url, headers={"Authorization": key}) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        latencies.append(time.perf_counter() - started)
    return latencies


async def _flood(base: str, stop, counts) -> None:
    async def one(session: aiohttp.ClientSession, i: int) -> None:
        while not stop.is_set():
            async with session.post(base + "/login", data={
                    "grant_type": "password", "username": f"victim{i % 8}",
                    "password": "wrong-password"}) as resp:
                await resp.read()
                with counts.get_lock():
                    counts[{400: 0, 429: 1, 503: 2}.get(resp.status, 3)] += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(one(session, i) for i in range(FLOOD)))


def flood_process(base: str, stop, counts) -> None:
    """The flood runs in its own process, so it does not slow the measuring client."""
    asyncio.run(_flood(base, stop, counts))


async def measure(base: str, seconds: float) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(base + "/login", data={
                "grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}) as r:
            admin = {"Authorization": f"Bearer {(await r.json())['access_token']}"}
        async with session.post(base + "/tokens", json={"label": f"flood-bench-{time.time()}"},
                                headers=admin) as r:
            key = (await r.json())["api_key"]
        for path in ("/users/me", "/tokens?limit=10"):
            alone = await api_key_latencies(session, base + path, key, seconds)
            stop, counts = multiprocessing.Event(), multiprocessing.Array("i", 4)
            flood = multiprocessing.Process(target=flood_process, args=(base, stop, counts))
            flood.start()
            await asyncio.sleep(1.0)  # let the hash pool fill
            started = time.monotonic()
            busy = await api_key_latencies(session, base + path, key, seconds)
            elapsed = time.monotonic() - started
            stop.set()
            flood.join(timeout=30)
            statuses = {name: counts[i] for i, name in enumerate((400, 429, 503, "other"))
                        if counts[i]}
            p50a, p99a = percentile(alone, 0.5), percentile(alone, 0.99)
            p50b, p99b = percentile(busy, 0.5), percentile(busy, 0.99)
            print(f"  GET {path:<17} alone: p50 {p50a * 1000:6.2f} ms  p99 {p99a * 1000:6.2f} ms"
                  f"  ({len(alone) / seconds:6.0f} req/s)")
            print(f"  {'':21} flood: p50 {p50b * 1000:6.2f} ms  p99 {p99b * 1000:6.2f} ms"
                  f"  ({len(busy) / elapsed:6.0f} req/s)   ratio p50 "
                  f"{p50b / p50a:5.2f}  p99 {p99b / p99a:5.2f}   mean "
                  f"{statistics.mean(busy) / statistics.mean(alone):5.2f}")
            print(f"  {'':21} logins answered: {statuses}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--port", type=int, default=8400)
    args = parser.parse_args()
    prod_argon2 = {"ARGON2_TIME_COST": "3", "ARGON2_MEMORY_COST": "65536",
                   "ARGON2_PARALLELISM": "4"}
    with test_database() as (dsn, _server, source):
        print(f"login flood: {FLOOD} concurrent bad password logins; database from {source}")
        runs = (("throttling off, HASH_WORKERS=2 (default)", "0", "2"),
                ("throttling off, HASH_WORKERS=1", "0", "1"),
                ("throttling on (defaults), HASH_WORKERS=2", "1", "2"))
        for offset, (title, throttle, workers) in enumerate(runs):
            env = {**prod_argon2, "HASH_WORKERS": workers, "HASH_QUEUE": "64",
                   "THROTTLE_ENABLED": throttle, "ADMIN_USERNAME": ADMIN[0],
                   "ADMIN_PASSWORD": ADMIN[1], "LOG_LEVEL": "WARNING"}
            with run_server(dsn, port=args.port + offset, **env) as server:
                print(title + ":")
                asyncio.run(measure(server.base_url, args.seconds))


if __name__ == "__main__":
    main()
