"""/login takes as long for an unknown user as for a known user with a wrong password.

A difference would tell an attacker which usernames exist. Both paths run one argon2
verification (the unknown one against a dummy hash made with the same parameters), so
the medians must be within 20 %. The argon2 cost here is production-like in shape
(t=2, 16 MiB, one lane) so that hashing dominates, as it does in production.
"""

from __future__ import annotations

import random
import secrets
import statistics
import time

import asyncpg

from service.app import create_app
from service.auth.passwords import PasswordHasher
from service.users.ops import insert_user as create_user
from tests.support.attacks import without_throttling

SAMPLES = 80  # per case
WARM_UP = 3
PASSWORD = "the-right-password-1"  # noqa: S105 (a test fixture)


async def test_unknown_user_and_wrong_password_take_the_same_time(aiohttp_client, make_settings,
                                                                   database_url):
    settings = without_throttling(make_settings(argon2_time_cost=2, argon2_memory_cost=16384,
                                                argon2_parallelism=1))
    hasher = PasswordHasher(settings)
    conn = await asyncpg.connect(database_url)
    try:
        await create_user(conn, hasher, username="known", password=PASSWORD)
    finally:
        await conn.close()
        hasher.close()
    client = await aiohttp_client(create_app(settings))

    async def attempt(username: str) -> float:
        started = time.perf_counter()
        resp = await client.post("/login", data={"grant_type": "password",
                                                 "username": username,
                                                 "password": "wrong-password-" + username})
        elapsed = time.perf_counter() - started
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_grant"
        return elapsed

    def unknown() -> str:
        return "nobody-" + secrets.token_hex(4)

    for _ in range(WARM_UP):
        await attempt("known")
        await attempt(unknown())
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    # In pairs, each pair in a random order, so a burst of load on the machine falls on
    # both cases alike rather than on a run of one of them.
    for _ in range(SAMPLES):
        for case in random.sample(["known", "unknown"], 2):
            times[case].append(await attempt("known" if case == "known" else unknown()))

    known, missing = statistics.median(times["known"]), statistics.median(times["unknown"])
    difference = abs(known - missing) / min(known, missing)
    print(f"\n/login median: known user, wrong password {known * 1000:.1f} ms; "
          f"unknown user {missing * 1000:.1f} ms; difference {difference:.1%} "
          f"({SAMPLES} samples each)")
    assert difference < 0.20
