"""JWT signing under load: EdDSA (the default) against HS256, in the same run.

    make bench                      # runs after bench/auth.py; alone: python -m bench.signing

Two services side by side on one database, one signing with Ed25519 key pairs, one with an
HS256 secret (1 worker each), measured in interleaved rounds with wrk -t2 -c16:
  (a) POST /login, client credentials, EdDSA      (b) the same, HS256
  (c) GET /users/me with a JWT, EdDSA             (d) the same, HS256
then the medians and the ratios (a)/(b) and (c)/(d), each taken within a round. (c) and (d)
are credential-cache hits: no signature is checked per request, whatever the algorithm.
Before that, the in-process cost of one issue() and one decode() of each codec, which is
what (a)/(b) and a cache miss pay. Uses DATABASE_URL (a throwaway database) or an embedded
PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from contextlib import ExitStack

from bench import wrk
from bench.auth import ADMIN, credentials
from service.auth import signing
from service.auth.jwt import JwtCodec
from service.auth.signing import KeyRing, SigningKey
from tests.support.db import test_database
from tests.support.servers import run_server

ALGORITHMS = ("EdDSA", "HS256")


def codec_for(alg: str) -> JwtCodec:
    if alg == "HS256":
        return JwtCodec(KeyRing.hmac("bench-secret-" + "s" * 32), "http://bench", 900)
    private = signing.generate(alg)
    jwk = signing.public_jwk(private.public_key())
    key = SigningKey(signing.thumbprint(jwk), alg, private.public_key(), private, jwk, 0, 0)
    return JwtCodec(KeyRing([key]), "http://bench", 900)


def per_call(alg: str, count: int = 5000) -> tuple[float, float]:
    """Microseconds for one issue() and one decode()."""
    codec = codec_for(alg)
    user, token_id = uuid.uuid4(), uuid.uuid4()
    started = time.perf_counter()
    tokens = [codec.issue(user_id=user, scopes=["read:pipes"], token_id=token_id)[0]
              for _ in range(count)]
    issued = time.perf_counter() - started
    started = time.perf_counter()
    for token in tokens:
        assert codec.decode(token) is not None
    decoded = time.perf_counter() - started
    return issued / count * 1e6, decoded / count * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="EdDSA against HS256")
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per figure")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per figure")
    args, _ = parser.parse_known_args(argv)
    print("\nJWT signing: EdDSA against HS256 (ratios matter: the machine may be shared)")
    for alg in ALGORITHMS:
        issue_us, decode_us = per_call(alg)
        print(f"  in process, {alg:<6} issue {issue_us:6.1f} us   decode {decode_us:6.1f} us")
    with test_database() as (database_url, _, source), ExitStack() as stack:
        print(f"database: {source}; wrk -t2 -c16 -d{args.seconds}s, {args.rounds} rounds")
        runs = []
        for alg, (login, me) in zip(ALGORITHMS, (("a", "c"), ("b", "d")), strict=True):
            server = stack.enter_context(run_server(
                database_url, WORKERS="1", JWT_ALGORITHM=alg, ADMIN_USERNAME=ADMIN[0],
                ADMIN_PASSWORD=ADMIN[1], THROTTLE_ENABLED="0"))
            _, token, jwt = asyncio.run(credentials(server.base_url))
            body = (f"grant_type=client_credentials&client_id={token['id']}"
                    f"&client_secret={token['secret']}")
            runs.append((login, f"({login}) POST /login, client credentials, {alg}",
                         server.base_url + "/login",
                         {"method": "POST", "body": body, "headers": {
                             "Content-Type": "application/x-www-form-urlencoded"}}))
            runs.append((me, f"({me}) GET /users/me, JWT, {alg}", server.base_url + "/users/me",
                         {"headers": {"Authorization": f"Bearer {jwt}"}}))
        rounds: dict[str, list[wrk.Result]] = {}
        for round_ in range(1, args.rounds + 1):
            for name, label, url, options in sorted(runs):
                result = wrk.run(label, url, seconds=args.seconds, **options)
                rounds.setdefault(name, []).append(result)
                print(f"  round {round_}" + result.line(), flush=True)
        print("  medians:")
        for name in sorted(rounds):
            print(wrk.median(rounds[name][0].name, rounds[name]).line())
        print(f"  ratios, median of the rounds' own: logins EdDSA/HS256 "
              f"{wrk.within_rounds(rounds['a'], rounds['b']):5.2f}   "
              f"/users/me EdDSA/HS256 {wrk.within_rounds(rounds['c'], rounds['d']):5.2f}")


if __name__ == "__main__":
    main()
