"""What the access log line costs an authenticated request.

    python -m bench.observability [--seconds 5] [--rounds 3]

GET /users/me with a raw API key (cached after the first request), wrk -t2 -c16 from
127.0.0.1, one worker each, two servers side by side and measured in interleaved rounds:
  0. ACCESS_LOG=0: request id, metrics, authentication, no log line;
  1. ACCESS_LOG=1, the default: the same and the one JSON line per request.
Prints each figure, the median of each over the rounds and (1)/(0), taken within each
round, then its median over the rounds. The request id, metrics
and authentication are in both: they are the front (service/front.py). Uses
DATABASE_URL (a throwaway database, dropped at the end) or an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
from contextlib import ExitStack

from bench import wrk
from bench.auth import ADMIN, credentials, measure
from tests.support.db import test_database
from tests.support.servers import run_server

VARIANTS = (("(0) request id + metrics (ACCESS_LOG=0)", "0"),
            ("(1) ... + the JSON log line (the default)", "1"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the cost of the access log line")
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per figure")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with test_database() as (database_url, _, source), ExitStack() as stack:
        print(f"database: {source}; wrk -t2 -c16 -d{args.seconds}s, {args.rounds} rounds")
        urls = []
        for _, access_log in VARIANTS:
            server = stack.enter_context(run_server(
                database_url, ADMIN_USERNAME=ADMIN[0], ADMIN_PASSWORD=ADMIN[1],
                LOG_LEVEL="INFO", ACCESS_LOG=access_log))
            urls.append(server.base_url)
        _, token, _ = asyncio.run(credentials(urls[0]))
        headers = {"Authorization": token["api_key"]}
        rounds: dict[int, list[wrk.Result]] = {}
        measure([(i, name, urls[i] + "/users/me", {"headers": headers})
                 for i, (name, _) in enumerate(VARIANTS)], args.rounds, args.seconds, rounds)
    print("  medians:")
    for i, (name, _) in enumerate(VARIANTS):
        print(wrk.median(name, rounds[i]).line())
    print(f"  (1)/(0), median of the rounds' own: {wrk.within_rounds(rounds[1], rounds[0]):.2f}")


if __name__ == "__main__":
    main()
