"""A PgBouncer of a test's own (Debian's /usr/sbin/pgbouncer), in transaction mode, on a
free loopback port, in front of the test's PostgreSQL; a private redis-server; and a
PostgreSQL primary with a streaming standby (the system's PostgreSQL binaries), for failover.

PgBouncer reads a configuration written in a temporary directory (its log goes there too);
redis-server gets its options on the command line and saves nothing. Both are stopped at
the end. PgBouncer refuses to run as root: under root it is told to switch to `nobody`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.support.servers import free_port, stop_process

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def pg_bindir() -> Path:
    """Where the system PostgreSQL's programs are (initdb, pg_ctl, pg_basebackup)."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                               timeout=10).stdout.strip()
        if found:
            return Path(found)
    return Path("/usr/lib/postgresql/15/bin")


def _wait_port(port: int, process: subprocess.Popen, what: str, log: Path | None,
               timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with {process.returncode}: {tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on {port} in {timeout} s") from None
            time.sleep(0.05)


@dataclass
class PgBouncer:
    port: int
    directory: Path
    admin_user: str

    def console(self, command: str) -> str:
        """A command of PgBouncer's admin console (PAUSE, RESUME, SHOW POOLS...), by psql:
        the console speaks only the simple query protocol."""
        return subprocess.run(
            ["psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", str(self.port), "-U",
             self.admin_user, "-d", "pgbouncer", "-c", command],
            check=True, capture_output=True, text=True, timeout=30).stdout

    def url(self, dsn: str) -> str:
        """`dsn` (a database of the PostgreSQL behind) reached through this PgBouncer."""
        parts = urlsplit(dsn)
        user = f"{parts.username}@" if parts.username else ""
        return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{self.port}"))

    def log(self) -> str:
        return (self.directory / "pgbouncer.log").read_text(errors="replace")


@contextmanager
def run_pgbouncer(dsn: str, *, pool_size: int = 5) -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode in front of the server of `dsn` (any database on it,
    as `dsn`'s user; no authentication on the loopback side)."""
    parts = urlsplit(dsn)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="mrsm-pgbouncer-") as tmp:
        directory = Path(tmp)
        server = f"host={parts.hostname or '127.0.0.1'} port={parts.port or 5432}"
        if parts.username:
            server += f" user={parts.username}"
        if parts.password:
            server += f" password={parts.password}"
        (directory / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = {server}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {port}\n"
            "unix_socket_dir =\n"
            "auth_type = any\n"
            f"admin_users = {parts.username or 'postgres'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {pool_size}\n"
            "max_client_conn = 500\n"
            f"logfile = {directory / 'pgbouncer.log'}\n"
            f"pidfile = {directory / 'pgbouncer.pid'}\n")
        command = [PGBOUNCER]
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(directory, nobody.pw_uid, nobody.pw_gid)
            command += ["-u", "nobody"]
        process = subprocess.Popen([*command, str(directory / "pgbouncer.ini")],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            _wait_port(port, process, "pgbouncer", directory / "pgbouncer.log")
            yield PgBouncer(port, directory, parts.username or "postgres")
        finally:
            stop_process(process)


@dataclass
class RedisServer:
    """A redis-server of a test's own: `stop()` makes it really go away, `start()` brings
    it back on the same port (empty: nothing is saved)."""

    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, self.process, "redis-server", None)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@contextmanager
def run_redis() -> Iterator[RedisServer]:
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class PostgresNodes:
    """PostgreSQL servers of a test's own in `directory`, node `i` on `ports[i]`, 127.0.0.1."""

    directory: Path
    ports: tuple[int, ...]
    user: str | None  # the system user PostgreSQL runs as (None: this one)
    bindir: Path

    def dsn(self, which: int) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.ports[which]}/postgres"

    def run(self, *args: str | Path) -> str:
        return subprocess.run([str(a) for a in args], user=self.user, check=True,
                              capture_output=True, text=True, timeout=60).stdout

    def pg_ctl(self, node: str, *args: str) -> None:
        self.run(self.bindir / "pg_ctl", "-D", self.directory / node, "-w", *args)

    def start(self, node: str, port: int) -> None:
        self.pg_ctl(node, "-l", str(self.directory / f"{node}.log"), "-o",
                    f"-p {port} -k {self.directory} -c listen_addresses=127.0.0.1", "start")

    def initdb(self, node: str) -> None:
        self.run(self.bindir / "initdb", "-D", self.directory / node, "-U", "postgres",
                 "--auth=trust", "--no-sync")


def _nodes(directory: Path, count: int) -> PostgresNodes:
    """Under root PostgreSQL runs as the `postgres` system user, which it requires."""
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        owner = pwd.getpwnam(user)
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    return PostgresNodes(directory, tuple(free_port() for _ in range(count)), user, pg_bindir())


def is_tcp(dsn: str) -> bool:
    """Whether `dsn` reaches its server over TCP (the embedded one listens on a socket only)."""
    parts = urlsplit(dsn)
    return bool(parts.hostname) and "host=/" not in parts.query


@contextmanager
def run_postgres() -> Iterator[str]:
    """One PostgreSQL on 127.0.0.1 and a free port; yields its maintenance dsn. For the
    tests that need a server on TCP (PgBouncer, multi-host URLs) when the run's server is
    the embedded one."""
    with tempfile.TemporaryDirectory(prefix="mrsm-tcp-pg-") as tmp:
        node = _nodes(Path(tmp), 1)
        node.initdb("primary")
        node.start("primary", node.ports[0])
        try:
            yield node.dsn(0)
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                node.pg_ctl("primary", "-m", "immediate", "stop")


class ReplicatedPair(PostgresNodes):
    """A primary on `ports[0]` streaming to a standby on `ports[1]`, both on 127.0.0.1."""

    @property
    def url(self) -> str:
        """Both hosts, libpq style, wanting the one that accepts writes."""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.ports)
        return f"postgresql://postgres@{hosts}/postgres?target_session_attrs=read-write"

    def kill_primary(self) -> None:
        """An immediate stop: the primary is gone as in a crash."""
        self.pg_ctl("primary", "-m", "immediate", "stop")

    def promote(self) -> None:
        self.pg_ctl("standby", "promote")


@contextmanager
def run_replicated_pair() -> Iterator[ReplicatedPair]:
    """initdb a primary, pg_basebackup a standby from it, start both; stop both at the end."""
    with tempfile.TemporaryDirectory(prefix="mrsm-replicas-") as tmp:
        nodes = _nodes(Path(tmp), 2)
        pair = ReplicatedPair(nodes.directory, nodes.ports, nodes.user, nodes.bindir)
        directory = pair.directory
        pair.initdb("primary")
        started = []
        try:
            pair.start("primary", pair.ports[0])
            started.append("primary")
            pair.run(pair.bindir / "pg_basebackup", "-h", "127.0.0.1", "-p", str(pair.ports[0]),
                     "-U", "postgres", "-D", directory / "standby", "-R", "-X", "stream",
                     "-c", "fast")
            pair.start("standby", pair.ports[1])
            started.append("standby")
            yield pair
        finally:
            for node in started:
                with contextlib.suppress(subprocess.CalledProcessError):
                    pair.pg_ctl(node, "-m", "immediate", "stop")
