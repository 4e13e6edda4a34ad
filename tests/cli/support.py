"""Running the real `mrsm` console script, and a real service for `api:` instances.

Shared by tests/cli and tests/sdk. The service runs once per test session in a
subprocess (`python -m service`) on this run's database; since every test starts
with empty tables, each test creates the users it needs.
"""

from __future__ import annotations

import atexit
import os
import pty
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from service.auth.passwords import PasswordHasher
from service.config import PROJECT_ROOT, Settings
from service.users.ops import insert_user as create_user
from tests.servers import free_port, stop_process

MRSM = Path(sys.executable).with_name("mrsm")
CHEAP_ARGON2 = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "8", "ARGON2_PARALLELISM": "1"}
ROOT_PASSWORD = "root-password-1"  # noqa: S105 (a test fixture)
PASSWORD = "user-password-1"  # noqa: S105


def base_env(database_url: str, tmp_config: Path, **extra: str) -> dict[str, str]:
    """The environment of a subprocess: this run's database, cheap argon2, no MRSM_* leaking
    in from the developer's shell, and a config file path that does not exist."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MRSM_")}
    env.update(CHEAP_ARGON2, DATABASE_URL=database_url, MRSM_CONFIG=str(tmp_config),
               LOG_LEVEL="WARNING", PYTHONWARNINGS="error")
    env.update(extra)
    return env


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_line(self) -> str:
        """The one line a failing command writes last on stderr."""
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else ""


def run_mrsm(args: list[str], env: dict[str, str], *, stdin: str | None = None,
             timeout: float = 60) -> Result:
    """`mrsm ARGS` with no terminal: stdin is `stdin` (a pipe) or /dev/null."""
    kwargs = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
    proc = subprocess.run([str(MRSM), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, **kwargs)
    return _checked(Result(proc.returncode, proc.stdout, proc.stderr))


def _checked(result: Result) -> Result:
    # Whatever happened, the user sees sentences, never a stack trace or a leak warning.
    for sign in ("Traceback", "Exception ignored", "Warning:"):
        assert sign not in result.stderr, result.stderr
    return result


def run_mrsm_tty(args: list[str], env: dict[str, str], answers: list[str], *,
                 timeout: float = 60) -> Result:
    """`mrsm ARGS` with a pseudo-terminal on stdin, typing each answer after its prompt.

    Each answer waits for a new prompt (stderr ending in ": " or "] "), as a person
    would: getpass discards what was typed ahead. A new session, so the child has no
    controlling terminal and getpass reads the pty rather than pytest's terminal.
    """
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(MRSM), *args], env=env, stdin=slave, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    os.close(slave)
    streams = {"out": bytearray(), "err": bytearray()}
    changed = threading.Condition()

    def pump(pipe, name: str) -> None:
        for chunk in iter(lambda: pipe.read1(4096), b""):
            with changed:
                streams[name] += chunk
                changed.notify_all()
        with changed:
            streams[name + "-closed"] = bytearray(b"1")
            changed.notify_all()

    readers = [threading.Thread(target=pump, args=(proc.stdout, "out"), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, "err"), daemon=True)]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout
    try:
        seen = 0
        for answer in answers:
            with changed:
                ok = changed.wait_for(
                    lambda seen=seen: "err-closed" in streams or (
                        len(streams["err"]) > seen and streams["err"].endswith((b": ", b"] "))),
                    timeout=max(deadline - time.monotonic(), 0))
                if not ok or "err-closed" in streams:
                    break  # the program stopped asking; the assertions will say why
                seen = len(streams["err"])
            os.write(master, answer.encode() + b"\n")
        proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"mrsm {args} hung; stderr so far:\n"
                             f"{streams['err'].decode()}") from None
    finally:
        for reader in readers:
            reader.join(timeout=5)
        proc.stdout.close()
        proc.stderr.close()
        os.close(master)
    return _checked(Result(proc.returncode, streams["out"].decode(), streams["err"].decode()))


def cheap_settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, argon2_time_cost=1, argon2_memory_cost=8,
                    argon2_parallelism=1)


async def add_user(database_url: str, username: str, password: str = PASSWORD, *,
                   type_: str = "user", scopes: list[str] | None = None) -> None:
    """A user straight in the database, as tests/conftest.py's `api.create_user` does."""
    hasher = PasswordHasher(cheap_settings(database_url))
    conn = await asyncpg.connect(database_url)
    try:
        await create_user(conn, hasher, username=username, password=password, type_=type_,
                          scopes=scopes)
    finally:
        await conn.close()
        hasher.close()




class Server:
    """`python -m service` on a free port, started once and stopped at the end."""

    _running: Server | None = None

    def __init__(self, database_url: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = base_env(database_url, log.with_suffix(".toml"), PORT=str(self.port),
                       ADMIN_USERNAME="root", ADMIN_PASSWORD=ROOT_PASSWORD, ACCESS_LOG="0",
                       LAST_USED_FLUSH_SECONDS="1")
        env.pop("PYTHONWARNINGS")
        self._log = log.open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "service"], env=env,
                                     cwd=PROJECT_ROOT, stdout=self._log, stderr=self._log,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:  # noqa: S310
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the service did not start; see {log}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self._log.closed:
            return
        stop_process(self.proc)
        self._log.close()

    @classmethod
    def shared(cls, database_url: str, log: Path) -> Server:
        """One server for the session, whichever test directory asks first."""
        if cls._running is None or cls._running.proc.poll() is not None:
            cls._running = cls(database_url, log)
            atexit.register(cls._running.stop)  # should the session end abruptly
        return cls._running

    @classmethod
    def stop_shared(cls) -> None:
        """Stop it before the session's database is dropped."""
        if cls._running is not None:
            cls._running.stop()
            cls._running = None
