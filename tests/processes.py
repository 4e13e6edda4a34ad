"""Real processes for tests: a private PostgreSQL we may stop, and the service itself.

The PostgreSQL is an embedded pgserver in a temporary directory, never the shared
server named by DATABASE_URL: fault tests stop it with `pg_ctl stop -m immediate`
(a crash, as far as the data is concerned) and start it again.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from service.config import PROJECT_ROOT
from tests.servers import free_port, stop_process

PORTS = range(8500, 8600)  # this area's share of the machine's ports
ADMIN = ("fault-admin", "fault-admin-password")


class PrivatePostgres:
    """A pgserver of our own: start(), stop() (immediate), dsn."""

    def __init__(self, directory: Path) -> None:
        from service.embedded import start_embedded

        self.server, self.dsn = start_embedded(directory, cleanup_mode="delete")
        self._socket_dir = self.server.get_postmaster_info().socket_dir

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.server.pgdata, user=self.server.system_user, timeout=30)

    def stop(self) -> None:
        """An immediate stop: no checkpoint, backends killed; recovery replays the WAL."""
        self._pg_ctl("-m", "immediate", "-w", "stop")

    def start(self) -> None:
        # The options pgserver itself starts with: Unix socket only, same directory, same DSN.
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self._socket_dir}",
                     "-l", str(self.server.log), "start")

    def close(self) -> None:
        self.server.cleanup()




class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, seconds: float):
        self.status, self.headers, self.body, self.seconds = status, headers, body, seconds

    def json(self):
        return json.loads(self.body)


class ServiceProcess:
    """`python -m service` against a given database, on a port of ours."""

    def __init__(self, dsn: str, log_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"service-{self.port}-{time.monotonic_ns()}.log"
        environment = {
            **os.environ,
            "DATABASE_URL": dsn,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "ADMIN_USERNAME": ADMIN[0],
            "ADMIN_PASSWORD": ADMIN[1],
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST": "8",
            "ARGON2_PARALLELISM": "1",
            "DB_TIMEOUT": "2",
            "DB_POOL_MIN": "1",
            "DB_POOL_MAX": "4",
            "WORKERS": "1",
            **env,
        }
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "service"], cwd=PROJECT_ROOT,
                                     env=environment, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.wait_until_up()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_up(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited early:\n{self.log()}")
            try:
                if self.request("GET", "/healthz", timeout=1).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the service did not come up:\n{self.log()}")

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                body: bytes | str | None = None, timeout: float = 15) -> Response:
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

    def bearer(self, username: str = ADMIN[0], password: str = ADMIN[1]) -> dict[str, str]:
        resp = self.request("POST", "/login", body=urlencode(
            {"grant_type": "password", "username": username, "password": password}),
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert resp.status == 200, resp.body
        return {"Authorization": f"Bearer {resp.json()['access_token']}"}

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


@pytest.fixture
def start_service(tmp_path):
    """start_service(dsn, **env) -> a running ServiceProcess, stopped after the test."""
    started: list[ServiceProcess] = []

    def start(dsn: str, **env: str) -> ServiceProcess:
        service = ServiceProcess(dsn, tmp_path, **env)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
