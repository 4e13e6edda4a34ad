"""Real service processes for tests: `python -m service` on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from service.config import PROJECT_ROOT

CHEAP_ARGON2 = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "8", "ARGON2_PARALLELISM": "1"}


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


def status_of(base_url: str, credential: str, path: str = "/users/me") -> int:
    """The status a running service answers to `credential` on `path`."""
    request = urllib.request.Request(base_url + path, headers={"Authorization": credential})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 (loopback)
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


@dataclass
class Server:
    process: subprocess.Popen
    base_url: str
    port: int


def wait_healthy(base_url: str, process: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode}")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the service did not become healthy in time")


@contextmanager
def run_server(database_url: str, *, port: int | None = None, argv: tuple[str, ...] = (),
               **env: str) -> Iterator[Server]:
    """Start the service against `database_url`; stop it (SIGTERM, then SIGKILL) at the end."""
    port = port or free_port()
    full_env = {**os.environ, **CHEAP_ARGON2, "DATABASE_URL": database_url,
                "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "WARNING",
                "ACCESS_LOG": "0", **env}
    process = subprocess.Popen([sys.executable, "-m", "service", *argv], env=full_env,
                               cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, process)
        yield Server(process, base_url, port)
    finally:
        stop_process(process, timeout=10)
