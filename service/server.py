"""Starting the service: embedded database if needed, migrations, first admin, then serve."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time

from aiohttp import web

from service import logs
from service.app import create_app
from service.auth.passwords import PasswordHasher
from service.auth.signing import SealError
from service.bootstrap import ensure_admin
from service.config import ConfigError, Settings
from service.db import connect_direct, migrate, rollback
from service.embedded import with_database

log = logging.getLogger("service")


def configure_logging(settings: Settings) -> None:
    """JSON lines on stderr by default (LOG_FORMAT); see service.logs."""
    logs.configure_logging(settings.log_level, settings.log_format)


async def prepare(settings: Settings) -> tuple[str, str] | None:
    """Migrate and make sure an admin exists; returns a generated admin login, if any."""
    hasher = PasswordHasher(settings)
    conn = await connect_direct(settings)  # the migration lock needs a session of its own
    try:
        await migrate(conn, settings.migrations_dir)
        return await ensure_admin(conn, settings, hasher)
    finally:
        hasher.close()
        await conn.close()


async def run_migrations(settings: Settings, args: list[str]) -> None:
    conn = await connect_direct(settings)
    try:
        if args[:1] == ["down"]:
            steps = int(args[1]) if len(args) > 1 else 1
            names = await rollback(conn, settings.migrations_dir, steps=steps)
            print("rolled back:", ", ".join(names) or "nothing")
        else:
            names = await migrate(conn, settings.migrations_dir)
            print("applied:", ", ".join(names) or "nothing (up to date)")
    finally:
        await conn.close()


def serve(settings: Settings) -> None:
    generated = asyncio.run(prepare(settings))
    url = f"http://{settings.host}:{settings.port}"
    # Printed once, to the terminal only (never to the log): a generated password is not
    # stored anywhere else.
    print(first_start(url, generated), flush=True)
    if settings.workers > 1:
        supervise(settings, url)
    else:
        run_worker(settings, announce=f"mrsm-tokens listening on {url} (Ctrl+C to stop)")


def first_start(url: str, generated: tuple[str, str] | None) -> str:
    """The block a start ends with: where the service is and, on the first start without
    ADMIN_USERNAME/ADMIN_PASSWORD, the admin it made, with a command to try it."""
    if generated is None:
        return f"\nmrsm-tokens on {url}\n"
    username, password = generated
    return (
        f"\nmrsm-tokens on {url}\n"
        f"\n  Created the first admin: username '{username}', password '{password}'\n"
        "  Write the password down now: it will not be shown again.\n"
        "\n  Try it:\n"
        f"    curl -sS {url}/login -d grant_type=password -d username={username} "
        f"--data-urlencode password='{password}'\n"
    )


def supervise(settings: Settings, url: str) -> None:
    """WORKERS=N: N processes share the port through SO_REUSEPORT; the kernel spreads
    connections between them. Each has its own pool, cache and revocation listener."""
    env = {**os.environ, "DATABASE_URL": settings.database_url or ""}
    workers = [subprocess.Popen([sys.executable, "-m", "service", "worker"], env=env)
               for _ in range(settings.workers)]
    print(f"mrsm-tokens listening on {url} with {settings.workers} workers "
          "(Ctrl+C to stop)", flush=True)

    def forward(signum, frame):
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    # If one worker dies the others stop too: a supervisor above us restarts the whole set.
    while all(proc.poll() is None for proc in workers):
        time.sleep(0.2)
    forward(signal.SIGTERM, None)
    for proc in workers:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_worker(settings: Settings, *, announce: str | None = None,
               reuse_port: bool = False) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional
        uvloop = None
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        reuse_port=reuse_port,
        print=(lambda _: print(announce, flush=True)) if announce else None,
        # service.front writes the one line per request (ACCESS_LOG).
        access_log=None,
        loop=uvloop.new_event_loop() if uvloop else None,
        shutdown_timeout=10,
    )


def main(argv: list[str]) -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2
    configure_logging(settings)
    settings, _server = with_database(settings)
    try:
        return _run(settings, argv)
    except SealError as err:  # the stored signing keys do not open with this environment
        print(f"configuration error: {err}", file=sys.stderr)
        return 2


def _run(settings: Settings, argv: list[str]) -> int:
    if argv[:1] == ["worker"]:  # one of WORKERS=N processes, started by `supervise`
        run_worker(settings, reuse_port=True)
        return 0
    if argv[:1] == ["migrate"]:
        asyncio.run(run_migrations(settings, argv[1:]))
        return 0
    if argv:
        print(f"unknown command: {' '.join(argv)} (try: migrate, migrate down N)",
              file=sys.stderr)
        return 2
    serve(settings)
    return 0
