"""Starting the service: embedded database if needed, migrations, first admin, then serve."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys

from aiohttp import web

from service.app import create_app
from service.auth.passwords import PasswordHasher
from service.bootstrap import ensure_admin
from service.config import ConfigError, Settings
from service.db import create_pool, migrate, rollback

log = logging.getLogger("service")


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def with_database(settings: Settings) -> tuple[Settings, object | None]:
    """Settings with a DATABASE_URL: the given one, or an embedded server's in DATA_DIR."""
    if settings.database_url:
        return settings, None
    from service.embedded import start_embedded

    server, dsn = start_embedded(settings.data_dir / "pg")
    return dataclasses.replace(settings, database_url=dsn), server


async def prepare(settings: Settings) -> tuple[str, str] | None:
    """Migrate and make sure an admin exists; returns a generated admin login, if any."""
    pool = await create_pool(settings, min_size=1, max_size=2)
    hasher = PasswordHasher(settings)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, settings.migrations_dir)
            return await ensure_admin(conn, settings, hasher)
    finally:
        hasher.close()
        await pool.close()


async def run_migrations(settings: Settings, args: list[str]) -> None:
    pool = await create_pool(settings, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            if args[:1] == ["down"]:
                steps = int(args[1]) if len(args) > 1 else 1
                names = await rollback(conn, settings.migrations_dir, steps=steps)
                print("rolled back:", ", ".join(names) or "nothing")
            else:
                names = await migrate(conn, settings.migrations_dir)
                print("applied:", ", ".join(names) or "nothing (up to date)")
    finally:
        await pool.close()


def serve(settings: Settings) -> None:
    generated = asyncio.run(prepare(settings))
    if generated:
        username, password = generated
        # Printed once, to the terminal only (never to the log): it is not stored anywhere else.
        print(f"Created the first admin: username '{username}', password '{password}'\n"
              "Write the password down now: it will not be shown again.", flush=True)
    url = f"http://{settings.host}:{settings.port}"
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional
        uvloop = None
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        print=lambda _: print(f"mrsm-tokens listening on {url} (Ctrl+C to stop)", flush=True),
        access_log=logging.getLogger("aiohttp.access") if settings.access_log else None,
        loop=uvloop.new_event_loop() if uvloop else None,
        shutdown_timeout=10,
    )


def main(argv: list[str]) -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    settings, _server = with_database(settings)
    if argv[:1] == ["migrate"]:
        asyncio.run(run_migrations(settings, argv[1:]))
        return 0
    if argv:
        print(f"unknown command: {' '.join(argv)} (try: migrate, migrate down N)",
              file=sys.stderr)
        return 2
    serve(settings)
    return 0
