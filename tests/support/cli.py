"""Running the real `mrsm` console script, and the people tests/cli and tests/sdk need.

Shared by tests/cli and tests/sdk, as is the service their `api:` instances reach (the
`api_server` fixture, once per session, on this run's database). Since every test starts
with empty tables, each test creates the users it needs.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from service.auth.passwords import PasswordHasher
from service.config import Settings
from service.users.ops import insert_user as create_user
from tests.support.servers import CHEAP_ARGON2, environment

MRSM = Path(sys.executable).with_name("mrsm")
ROOT_PASSWORD = "root-password-1"  # noqa: S105 (a test fixture)
PASSWORD = "user-password-1"  # noqa: S105


def env_changes(database_url: str, tmp_config: Path,
                **extra: str | None) -> dict[str, str | None]:
    """What `base_env` changes in os.environ (None: removed), for `run_server` to make too."""
    changes: dict[str, str | None] = {k: None for k in os.environ if k.startswith("MRSM_")}
    changes.update(CHEAP_ARGON2, DATABASE_URL=database_url, MRSM_CONFIG=str(tmp_config),
                   LOG_LEVEL="WARNING", PYTHONWARNINGS="error")
    changes.update(extra)
    return changes


def base_env(database_url: str, tmp_config: Path, **extra: str | None) -> dict[str, str]:
    """The environment of a subprocess: this run's database, cheap argon2, no MRSM_* leaking
    in from the developer's shell, and a config file path that does not exist."""
    return environment(env_changes(database_url, tmp_config, **extra))


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
    """A user straight in the database, as `tests.support.api.Api.create_user` does."""
    hasher = PasswordHasher(cheap_settings(database_url))
    conn = await asyncpg.connect(database_url)
    try:
        await create_user(conn, hasher, username=username, password=password, type_=type_,
                          scopes=scopes)
    finally:
        await conn.close()
        hasher.close()
