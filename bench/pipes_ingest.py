"""Ingest under load: one reading per request from many devices, and 100-row batches.

    python -m bench.pipes_ingest [--seconds 5] [--rounds 3] [--part a|b]   (in `make bench`)

(a) One row per request, every timestamp new, with wrk -t2 at 64 and at 256 connections:
    the service (`POST {pipe}/data` with an API key holding only write:pipes and bound to
    that one pipe, as a device's key would be; its normal JSON access log on) beside a bare
    aiohttp + asyncpg app (bench/bare_app.py `pipes`: the
    same upsert in one statement, so one transaction, per request; no authentication, no
    validation, no logging; a pool of 10 connections, the service's default). Both run in
    the same process count (one each) on the same database, in --rounds interleaved rounds;
    printed: each side's rows/s, p50 and p99 (medians over the rounds), and the median of
    the rounds' own ratios.
(b) 100-row batches (--batch-rows rows a phase) through the API with an aiohttp client,
    against the same batches written straight to PostgreSQL with asyncpg (one upsert
    statement per batch), with 1 and 8 concurrent writers, rounds interleaved likewise.

Uses DATABASE_URL (a throwaway database, dropped at the end) or an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
from contextlib import contextmanager
from types import SimpleNamespace

import aiohttp

from bench import wrk
from bench.auth import wait_listening
from bench.pipes_write import direct_phase, http_phase
from service.config import PROJECT_ROOT, Settings
from service.db import create_pool
from tests.support.db import test_database
from tests.support.servers import environment, free_port, run_server, stop_process

ADMIN = ("bench-admin", "bench-admin-password")
CONNECTIONS = (64, 256)
WRITERS = (1, 8)
BASE_EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z
# Every request a new timestamp: wrk thread `tid` counts seconds from its own offset, and
# each run starts at BASE_EPOCH + `offset` seconds, so no two requests of the bench collide.
ONE_ROW = """
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local n = 0
request = function()
  n = n + 1
  local t = {offset} + tid * 10000000 + n
  local body = '[{{"timestamp":"' .. os.date("!%Y-%m-%dT%H:%M:%SZ", {base} + t) ..
               '","temperature":21.5,"humidity":40}}]'
  return wrk.format(nil, nil, nil, body)
end
"""


@contextmanager
def bare_pipes_app(database_url: str):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "bench" / "bare_app.py"), str(port), "pipes"],
        env=environment({"DATABASE_URL": database_url}))
    try:
        wait_listening(f"http://127.0.0.1:{port}/")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


async def device_keys(base: str) -> tuple[str, str]:
    """The admin's bearer makes devices' tokens, only write:pipes: (a)'s bound to its one
    pipe, (b)'s to the batch phases' pipes (bench:http/temperature/*, made as they write)."""
    async with aiohttp.ClientSession() as session:
        async with session.post(base + "/login", data={
                "grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}) as r:
            bearer = {"Authorization": f"Bearer {(await r.json())['access_token']}"}
        for keys_ in (("bench:api", "temperature"), ("bench:bare", "temperature")):
            async with session.post(base + "/pipes", headers=bearer, json={
                    "connector_keys": keys_[0], "metric_key": keys_[1]}) as r:
                assert r.status == 201, await r.text()
        found = []
        for label, pattern in (("bench device", "bench:api/temperature/-"),
                               ("bench batches", "bench:http/temperature/*")):
            async with session.post(base + "/tokens", headers=bearer, json={
                    "label": label, "scopes": ["write:pipes"],
                    "pipes": [pattern]}) as r:
                assert r.status == 201, await r.text()
                found.append((await r.json())["api_key"])
        return found[0], found[1]


def one_row_rounds(api: str, bare: str, key: str, args) -> dict[tuple[str, int], list]:
    results: dict[tuple[str, int], list[wrk.Result]] = {}
    runs = 0
    for round_ in range(1, args.rounds + 1):
        for connections in CONNECTIONS:
            for side, url, headers in (
                    ("service", api + "/pipes/bench:api/temperature/-/data",
                     {"Authorization": key, "Content-Type": "application/json"}),
                    ("bare app", bare + "/pipes/bench:bare/temperature/-/data",
                     {"Content-Type": "application/json"})):
                runs += 1
                script = ONE_ROW.format(offset=runs * 25_000_000, base=BASE_EPOCH)
                result = wrk.run(f"{side}, {connections} connections", url,
                                 seconds=args.seconds, connections=connections,
                                 method="POST", headers=headers, script=script)
                results.setdefault((side, connections), []).append(result)
                print(f"  round {round_}" + result.line(), flush=True)
    return results


async def batch_rounds(api: str, key: str, dsn: str, args) -> dict[tuple[str, int], list]:
    rates: dict[tuple[str, int], list[float]] = {}
    # Every connection open before the clock starts, as the service's are: opening them
    # (and preparing the statement on each) inside the first direct phase made it slower.
    pool = await create_pool(Settings(database_url=dsn), min_size=max(WRITERS),
                             max_size=max(WRITERS))
    options = SimpleNamespace(rows=args.batch_rows, batch=100)
    try:
        print("  warm-up, not counted", flush=True)
        warm_up = SimpleNamespace(rows=20 * 100 * max(WRITERS), batch=100)
        await http_phase(api, key, "warm-up", warm_up, max(WRITERS))
        await direct_phase(pool, "warm-up", warm_up, max(WRITERS), row_by_row=False)
        for round_ in range(1, args.rounds + 1):
            print(f"  round {round_}", flush=True)
            for writers in WRITERS:
                location = f"r{round_}w{writers}"
                rates.setdefault(("api", writers), []).append(
                    await http_phase(api, key, location, options, writers))
                rates.setdefault(("direct", writers), []).append(
                    await direct_phase(pool, location, options, writers, row_by_row=False))
    finally:
        await pool.close()
    return rates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="pipe ingest benchmarks")
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per figure")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--batch-rows", type=int, default=20_000,
                        help="rows per phase of the 100-row batches")
    parser.add_argument("--part", choices=("a", "b", "both"), default="both",
                        help="only (a) one row per request, or only (b) 100-row batches")
    args, _ = parser.parse_known_args(argv)  # `python -m bench` passes the others' options
    with test_database() as (dsn, _, source):
        print(f"\npipe ingest; database: {source}; wrk -t2 -d{args.seconds}s on 127.0.0.1, "
              f"{args.rounds} rounds")
        env = {"ADMIN_USERNAME": ADMIN[0], "ADMIN_PASSWORD": ADMIN[1], "LOG_LEVEL": "INFO",
               "ACCESS_LOG": "1"}
        with bare_pipes_app(dsn) as bare, run_server(dsn, **env) as server:
            one_row_key, batch_key = asyncio.run(device_keys(server.base_url))
            if args.part != "b":
                one_row_figures(server.base_url, bare, one_row_key, args)
            if args.part != "a":
                batch_figures(server.base_url, batch_key, dsn, args)


def one_row_figures(api: str, bare: str, key: str, args) -> None:
    print("(a) one row per request")
    rounds = one_row_rounds(api, bare, key, args)
    print("  medians:")
    for connections in CONNECTIONS:
        service = rounds["service", connections]
        bare_ = rounds["bare app", connections]
        for result in (wrk.median(service[0].name, service),
                       wrk.median(bare_[0].name, bare_)):
            print(result.line().replace("req/s", "rows/s"))
        p99 = statistics.median(s.p99_ms / b.p99_ms for s, b in zip(
            service, bare_, strict=True))
        print(f"  service / bare app at {connections} connections: rows/s "
              f"{wrk.within_rounds(service, bare_):.2f}, p99 {p99:.2f} "
              "(medians of the rounds' own ratios)")


def batch_figures(api_base: str, key: str, dsn: str, args) -> None:
    print("(b) 100-row batches")
    rates = asyncio.run(batch_rounds(api_base, key, dsn, args))
    for writers in WRITERS:
        api, direct = rates["api", writers], rates["direct", writers]
        ratio = statistics.median(a / d for a, d in zip(api, direct, strict=True))
        print(f"  {writers} writer(s): API {statistics.median(api):,.0f} rows/s, "
              f"direct asyncpg {statistics.median(direct):,.0f} rows/s, "
              f"ratio {ratio:.2f} (median of the rounds' own)")


if __name__ == "__main__":
    main()
