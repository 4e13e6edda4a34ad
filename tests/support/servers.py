"""Service processes for tests and benchmarks: `run_server` is the one way to start and stop one.

`python -m service` (or another command that serves, such as `mrsm start api`) on a free
loopback port, against a given database. `run_server` waits until /healthz answers 200,
yields a `Server`, and at the end stops the process: SIGTERM, then SIGKILL if it has not
exited in time. Its output is discarded, or kept in a file when a test reads it.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from service.config import PROJECT_ROOT

CHEAP_ARGON2 = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "8", "ARGON2_PARALLELISM": "1"}
SERVICE = (sys.executable, "-m", "service")
# What the service logs when its output is discarded, unless `env` says otherwise.
QUIET = {"LOG_LEVEL": "WARNING", "ACCESS_LOG": "0"}
# One issuer for every process a test starts, as for the instances of one deployment (a
# JWT names its issuer, and each process would otherwise take its own from its port).
ISSUER_URL = "http://mrsm.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def environment(changes: Mapping[str, str | None],
                base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (os.environ by default) with `changes` made: a value of None removes the name."""
    env = dict(os.environ if base is None else base)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def status_of(base_url: str, credential: str, path: str = "/users/me") -> int:
    """The status a running service answers to `credential` on `path`."""
    request = urllib.request.Request(base_url + path, headers={"Authorization": credential})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 (loopback)
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def _tail(log: Path | None) -> str:
    if log is None:
        return ""
    try:
        return f"; its output ({log}) ends:\n" + log.read_text(errors="replace")[-4000:]
    except OSError:
        return ""


def wait_healthy(base_url: str, process: subprocess.Popen, timeout: float = 30,
                 log: Path | None = None) -> None:
    """Until GET /healthz answers 200; RuntimeError (with the end of `log`) if the process
    exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode}{_tail(log)}")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=1) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the service did not answer /healthz in {timeout} s"
                               f"{_tail(log)}")
        time.sleep(0.05)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    """A running service: its process, where it listens, the admin it was started with
    (ADMIN_USERNAME, ADMIN_PASSWORD) and the file its output goes to, if kept."""

    process: subprocess.Popen
    base_url: str
    port: int
    log_path: Path | None = None
    admin: tuple[str, str] | None = None

    def log(self) -> str:
        """Everything the process wrote so far (stdout and stderr)."""
        if self.log_path is None:
            raise RuntimeError("this server's output was discarded: run_server(log=...)")
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                body: bytes | str | None = None, timeout: float = 15) -> Response:
        """One request on a connection of its own, timed."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        started = time.monotonic()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, dict(resp.getheaders()), data,
                            time.monotonic() - started)
        finally:
            conn.close()

    def json_request(self, method: str, path: str, payload, headers: dict[str, str]) -> Response:
        return self.request(method, path, body=json.dumps(payload),
                            headers={**headers, "Content-Type": "application/json"})

    def bearer(self, username: str | None = None, password: str | None = None) -> dict[str, str]:
        """Headers with a password-grant JWT, for the admin the service was started with
        unless another user is named."""
        if username is None:
            assert self.admin is not None, "started without ADMIN_USERNAME and ADMIN_PASSWORD"
            username, password = self.admin
        resp = self.request("POST", "/login", body=urlencode(
            {"grant_type": "password", "username": username, "password": password}),
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert resp.status == 200, resp.body
        return {"Authorization": f"Bearer {resp.json()['access_token']}"}


@contextmanager
def run_server(database_url: str, *, port: int | None = None, workers: int | None = None,
               command: Sequence[str] = SERVICE, log: Path | None = None,
               start_timeout: float = 30, stop_timeout: float = 15,
               **env: str | None) -> Iterator[Server]:
    """Start `command` (`python -m service`) against `database_url`, on `port` (a free one
    by default) of 127.0.0.1, and wait for /healthz; stop it at the end (SIGTERM, then
    SIGKILL after `stop_timeout` seconds).

    Its environment is os.environ with cheap argon2 parameters, DATABASE_URL, HOST, PORT,
    ISSUER_URL (the same for every process), WORKERS (when `workers` is given), then `env`
    (a value of None removes a variable).
    stdout and stderr go to the file `log` when given (`Server.log()` reads it); otherwise
    they are discarded, and the service logs only warnings, with no access lines (QUIET),
    unless `env` sets LOG_LEVEL or ACCESS_LOG.
    """
    port = port or free_port()
    changes: dict[str, str | None] = {**CHEAP_ARGON2, **({} if log else QUIET),
                                      "DATABASE_URL": database_url, "HOST": "127.0.0.1",
                                      "PORT": str(port), "ISSUER_URL": ISSUER_URL}
    if workers is not None:
        changes["WORKERS"] = str(workers)
    changes.update(env)
    full_env = environment(changes)
    admin = (full_env["ADMIN_USERNAME"], full_env["ADMIN_PASSWORD"]) if (
        "ADMIN_USERNAME" in full_env and "ADMIN_PASSWORD" in full_env) else None
    out = log.open("wb") if log is not None else subprocess.DEVNULL
    try:
        process = subprocess.Popen(list(command), env=full_env, cwd=PROJECT_ROOT,
                                   stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT)
    finally:
        if log is not None:
            out.close()  # the process writes through its own copy
    server = Server(process, f"http://127.0.0.1:{port}", port, log, admin)
    try:
        wait_healthy(server.base_url, process, start_timeout, log)
        yield server
    finally:
        stop_process(process, stop_timeout)


@asynccontextmanager
async def run_server_async(database_url: str, **options: Any) -> AsyncIterator[Server]:
    """`run_server` for code on an event loop: the process is started, awaited and stopped
    in a worker thread, so that the loop (a browser's connection, say) runs on meanwhile."""
    manager = run_server(database_url, **options)
    server = await asyncio.to_thread(manager.__enter__)
    try:
        yield server
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)
