"""Authentication under load: how close to a bare aiohttp app, and how fast revocation spreads.

    make bench                      # or: python -m bench [--seconds 5] [--rounds 3]

For 1 worker, then 2 (WORKERS), with wrk -t2 -c16 from 127.0.0.1 for a fixed time, in
--rounds interleaved rounds (the bare app and the service run side by side, so each round
measures every figure under the same conditions; the machine's noise moves whole rounds):
  0. a bare aiohttp app (bench/bare_app.py, one JSON route, no middleware): the limit
  1. GET /healthz (no authentication): the floor of this server
  2. GET /users/me with a raw API key
  3. GET /users/me with a JWT from /login (client credentials)
  4. POST /login with client credentials
  5. (2) again after 100,000 other tokens were created
then each figure's median over the rounds, each ratio's median over the rounds (taken within
each round, so the machine's drift between rounds cancels out), and, with 2 workers,
the time until every worker refuses a token that was invalidated while a client kept calling
with it (the worst of 20 tries). The service runs with its normal logging (one JSON line per
request) and middleware on; only the throttling of failed authentication is off, since the
revocation probe fails on purpose. Uses DATABASE_URL (a
throwaway database that is dropped at the end) or an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager

import aiohttp
import asyncpg

from bench import wrk
from service.config import PROJECT_ROOT
from tests.support.db import test_database
from tests.support.servers import free_port, run_server

ADMIN = ("bench-admin", "bench-admin-password")
BARE_AGAIN = 10  # the bare app measured again in the rounds of (5)
BULK_TOKENS = """
INSERT INTO tokens (id, user_id, label, secret_hash, scopes)
SELECT gen_random_uuid(), $1, 'bulk-' || g, sha256(('bulk-secret-' || g)::bytea), '{read:pipes}'
FROM generate_series(1, $2) AS g
"""


@contextmanager
def bare_app(workers: int):
    port = free_port()
    argv = [sys.executable, str(PROJECT_ROOT / "bench" / "bare_app.py"), str(port)]
    if workers > 1:
        argv.append("reuse")
    procs = [subprocess.Popen(argv) for _ in range(workers)]
    try:
        wait_listening(f"http://127.0.0.1:{port}/")
        yield f"http://127.0.0.1:{port}/"
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


def wait_listening(url: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("bare app did not start")


async def credentials(base_url: str) -> tuple[dict, str, str]:
    """(admin bearer headers, API key, token JWT) from a fresh token."""
    async with aiohttp.ClientSession() as session:
        async with session.post(base_url + "/login", data={
                "grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}) as r:
            admin = {"Authorization": f"Bearer {(await r.json())['access_token']}"}
        async with session.post(base_url + "/tokens", json={"label": f"bench-{time.time()}"},
                                headers=admin) as r:
            token = await r.json()
        async with session.post(base_url + "/login", data={
                "grant_type": "client_credentials", "client_id": token["id"],
                "client_secret": token["secret"]}) as r:
            jwt = (await r.json())["access_token"]
    return admin, token, jwt


async def bulk_tokens(database_url: str, count: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        owner = await conn.fetchval("SELECT id FROM users WHERE username = $1", ADMIN[0])
        await conn.execute(BULK_TOKENS, owner, count)
        await conn.execute("ANALYZE tokens")
    finally:
        await conn.close()


async def revocation_seconds(base_url: str, admin: dict, tries: int) -> list[float]:
    """Per try: seconds from the invalidate request until every answer is a 401."""
    results = []
    connector = aiohttp.TCPConnector(force_close=True)  # a new connection: any worker may answer
    async with aiohttp.ClientSession(connector=connector) as session:
        for i in range(tries):
            async with session.post(base_url + "/tokens", json={"label": f"revoke-{i}"},
                                    headers=admin) as r:
                token = await r.json()
                if r.status != 201:
                    raise SystemExit(f"could not register a token: {r.status} {token}")
            me = {"Authorization": token["api_key"]}
            for _ in range(40):  # warm every worker's cache
                async with session.get(base_url + "/users/me", headers=me) as r:
                    assert r.status == 200
            started = time.monotonic()
            async with session.post(f"{base_url}/tokens/{token['id']}/invalidate",
                                    headers=admin) as r:
                assert r.status == 200
            refused_since = None
            streak = 0
            while streak < 30 and time.monotonic() - started < 5:
                async with session.get(base_url + "/users/me", headers=me) as r:
                    now = time.monotonic()
                    if r.status in (401, 429):  # refused (429: throttled after failures)
                        refused_since = refused_since or now
                        streak += 1
                    else:
                        refused_since, streak = None, 0
            results.append((refused_since or time.monotonic()) - started)
    return results


def print_ratios(rounds: dict[int, list[wrk.Result]]) -> None:
    """Each ratio taken within each round, then the median over the rounds (wrk.within_rounds)."""
    def within(a: int, b: int) -> float:
        return wrk.within_rounds(rounds[a], rounds[b])

    def ratio(a: int, b: int) -> str:
        return f"{within(a, b):5.2f}"

    # (5) was measured in later rounds, with the bare app again as its (0'): each against the
    # bare app of its own rounds.
    drift_free = within(5, BARE_AGAIN) / within(2, 0)
    print(f"  ratios, median of the rounds' own: (1)/(0) {ratio(1, 0)}   (2)/(0) {ratio(2, 0)}   "
          f"(3)/(0) {ratio(3, 0)}   (2)/(1) {ratio(2, 1)}   (3)/(1) {ratio(3, 1)}   "
          f"(5)/(2) {drift_free:5.2f}")


def measure(runs: list[tuple[int, str, str, dict]], rounds: int, seconds: int,
            into: dict[int, list[wrk.Result]]) -> None:
    for round_ in range(1, rounds + 1):
        for number, name, url, options in runs:
            result = wrk.run(name, url, seconds=seconds, **options)
            into.setdefault(number, []).append(result)
            print(f"  round {round_}" + result.line(), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="authentication benchmarks")
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per figure")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per figure")
    parser.add_argument("--tries", type=int, default=20, help="revocation tries")
    parser.add_argument("--bulk", type=int, default=100_000, help="other tokens for (5)")
    args = parser.parse_args(argv)
    with test_database() as (database_url, _, source):
        print(f"database: {source}; wrk -t2 -c16 -d{args.seconds}s on 127.0.0.1, "
              f"{args.rounds} rounds")
        for workers in (1, 2):
            print(f"\nWORKERS={workers}")
            env = {"WORKERS": str(workers), "ADMIN_USERNAME": ADMIN[0],
                   "ADMIN_PASSWORD": ADMIN[1], "LOG_LEVEL": "INFO", "ACCESS_LOG": "1",
                   # The revocation probe fails hundreds of times from 127.0.0.1 on purpose;
                   # with throttling on it would soon be answered 429 for everything.
                   "THROTTLE_ENABLED": "0"}
            with bare_app(workers) as bare_url, run_server(database_url, **env) as server:
                base = server.base_url
                admin, token, jwt = asyncio.run(credentials(base))
                login_body = (f"grant_type=client_credentials&client_id={token['id']}"
                              f"&client_secret={token['secret']}")
                key = {"headers": {"Authorization": token["api_key"]}}
                rounds: dict[int, list[wrk.Result]] = {}
                measure([
                    (0, "(0) bare aiohttp app", bare_url, {}),
                    (1, "(1) GET /healthz", base + "/healthz", {}),
                    (2, "(2) GET /users/me, API key", base + "/users/me", key),
                    (3, "(3) GET /users/me, JWT", base + "/users/me",
                     {"headers": {"Authorization": f"Bearer {jwt}"}}),
                    (4, "(4) POST /login, client credentials", base + "/login",
                     {"method": "POST", "body": login_body, "headers": {
                         "Content-Type": "application/x-www-form-urlencoded"}}),
                ], args.rounds, args.seconds, rounds)
                if workers == 1:
                    asyncio.run(bulk_tokens(database_url, args.bulk))
                measure([(BARE_AGAIN, "(0') bare aiohttp app, again", bare_url, {}),
                         (5, f"(5) = (2) with {args.bulk:,} more tokens", base + "/users/me",
                          key)], args.rounds, args.seconds, rounds)
                results = {n: wrk.median(rs[0].name, rs) for n, rs in sorted(rounds.items())}
                print("  medians:")
                for result in results.values():
                    print(result.line())
                print_ratios(rounds)
                if workers == 2:
                    times = asyncio.run(revocation_seconds(base, admin, args.tries))
                    print(f"  revocation seen by every worker: worst {max(times) * 1000:.1f} ms, "
                          f"median {sorted(times)[len(times) // 2] * 1000:.1f} ms "
                          f"over {len(times)} tries")
