"""Instructions per request, counted by callgrind: a figure this machine's noise cannot move.

    make bench-instructions          # or: python -m bench.instructions [--requests 1000]

wrk's requests per second on this 2-core machine move between runs by more than the gaps it is
asked to show (README, Performance). valgrind's callgrind counts the instructions a process
executes: the same from run to run, whatever else the machine is doing. Each server runs
under callgrind; one client sends --requests requests one after another over one keep-alive
connection, after a warm-up; the counters are zeroed before those requests and written out
after them (callgrind_control), so start-up and warm-up are not counted. Printed for:
  (0)  the bare aiohttp app (bench/bare_app.py): the limit
  (0m) the same app with one aiohttp middleware that only awaits the handler (the shape
       of the service's front, before it does anything)
  (1)  GET /healthz, (2) GET /users/me with an API key, (3) the same with a JWT
each with its ratio (0)/(n), to read beside wrk's (n)/(0). The service runs as in make bench:
normal logging (one JSON line per request), every middleware step on.

What it cannot see: time in the kernel (the same system calls for every figure), cache
misses, and hardware SHA-256. valgrind's virtual CPU has no SHA extensions, so OpenSSL hashes
in software there: (2) and (3) carry a few thousand instructions for the header's SHA-256
that this machine's CPU does in a few hundred cycles.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.auth import ADMIN, credentials, wait_listening
from service.config import PROJECT_ROOT
from tests.support.db import test_database
from tests.support.servers import (
    CHEAP_ARGON2,
    ISSUER_URL,
    free_port,
    run_server,
    stop_process,
    wait_healthy,
)

WARM_UP = 300
# valgrind names the pipes callgrind_control talks through after $HOST, which the service
# also reads (its address): one value for every process involved.
HOST = "127.0.0.1"


def request_bytes(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def send(port: int, request: bytes, count: int) -> None:
    """`count` requests, one at a time on one connection; each answer must be a 200."""
    with socket.create_connection((HOST, port)) as sock:
        pending = b""
        for _ in range(count):
            sock.sendall(request)
            while True:
                head, found, rest = pending.partition(b"\r\n\r\n")
                if found:
                    length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
                    if len(rest) >= length:
                        if not head.startswith(b"HTTP/1.1 200"):
                            raise SystemExit(f"expected a 200, got {head.splitlines()[0]!r}")
                        pending = rest[length:]
                        break
                chunk = sock.recv(65536)
                if not chunk:
                    raise SystemExit("the server closed the connection")
                pending += chunk


class Counted:
    """A process under callgrind whose counters are read per batch of requests."""

    def __init__(self, argv: list[str], env: dict[str, str], out_dir: Path, name: str) -> None:
        self.out = out_dir / name
        self.dumps = 0
        self.process = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.out}.%p", *argv],
            # A fixed hash seed: dict collisions, and so the count, the same from run to run.
            env={**env, "HOST": HOST, "PYTHONHASHSEED": "0"}, cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _control(self, *args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(self.process.pid)],
                       env={**os.environ, "HOST": HOST}, check=True, capture_output=True)

    def per_request(self, port: int, request: bytes, count: int) -> float:
        send(port, request, WARM_UP)
        self._control("-z")
        send(port, request, count)
        self._control("-d")
        self.dumps += 1
        dump = Path(f"{self.out}.{self.process.pid}.{self.dumps}")
        deadline = time.monotonic() + 120
        while (total := _total(dump)) is None:
            if time.monotonic() > deadline:
                raise SystemExit(f"callgrind wrote no {dump}")
            time.sleep(0.2)
        return total / count

    def stop(self) -> None:
        stop_process(self.process, timeout=60)


def _total(dump: Path) -> int | None:
    try:
        text = dump.read_text()
    except FileNotFoundError:
        return None
    match = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
    return int(match.group(1)) if match else None


def bare(out_dir: Path, name: str, *options: str) -> tuple[Counted, int]:
    port = free_port()
    counted = Counted([sys.executable, str(PROJECT_ROOT / "bench" / "bare_app.py"), str(port),
                       *options], dict(os.environ), out_dir, name)
    wait_listening(f"http://{HOST}:{port}/", timeout=300)  # slow under valgrind
    return counted, port


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="instructions per request, by callgrind")
    parser.add_argument("--requests", type=int, default=1000, help="counted requests per figure")
    args = parser.parse_args(argv)
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed: apt-get install valgrind")
    # One issuer for both processes: by default it is made of HOST and PORT, and the JWT is
    # minted by the first process, on another port than the counted one.
    env = {"ADMIN_USERNAME": ADMIN[0], "ADMIN_PASSWORD": ADMIN[1], "LOG_LEVEL": "INFO",
           "ACCESS_LOG": "1", "THROTTLE_ENABLED": "0", "ISSUER_URL": ISSUER_URL}
    figures: dict[str, float] = {}

    def show(label: str, value: float) -> None:
        figures[label] = value
        base = figures["(0)"]
        print(f"  {label:<5} {NAMES[label]:<40} {value:>10,.0f} instructions/request   "
              f"(0)/{label} {base / value:4.2f}", flush=True)

    with test_database() as (database_url, _, source), tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp)
        print(f"database: {source}; {args.requests:,} requests per figure under callgrind, "
              "one connection")
        with run_server(database_url, **env) as server:  # credentials, made at full speed
            _, token, jwt = asyncio.run(credentials(server.base_url))
        for name, options in (("(0)", ()), ("(0m)", ("middleware",))):
            counted, port = bare(out_dir, name, *options)
            try:
                show(name, counted.per_request(port, request_bytes("/", {}), args.requests))
            finally:
                counted.stop()
        port = free_port()
        service = Counted([sys.executable, "-m", "service"],
                          {**os.environ, **CHEAP_ARGON2, **env, "DATABASE_URL": database_url,
                           "PORT": str(port)}, out_dir, "service")
        try:
            wait_healthy(f"http://{HOST}:{port}", service.process, timeout=600)
            for label, path, headers in (
                    ("(1)", "/healthz", {}),
                    ("(2)", "/users/me", {"Authorization": token["api_key"]}),
                    ("(3)", "/users/me", {"Authorization": f"Bearer {jwt}"})):
                show(label, service.per_request(port, request_bytes(path, headers),
                                                args.requests))
        finally:
            service.stop()
    rate = {label: figures["(0)"] / value for label, value in figures.items()}  # as wrk's
    print("  as rates, wrk's terms: " + "   ".join(
        f"{a}/{b} {rate[a] / rate[b]:4.2f}"
        for a, b in (("(1)", "(0)"), ("(2)", "(0)"), ("(3)", "(0)"), ("(2)", "(1)"),
                     ("(3)", "(1)"))))


NAMES = {"(0)": "bare aiohttp app", "(0m)": "bare app + one empty middleware",
         "(1)": "GET /healthz", "(2)": "GET /users/me, API key", "(3)": "GET /users/me, JWT"}

if __name__ == "__main__":
    main()
