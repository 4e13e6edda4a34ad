"""Hearing revocations: PostgreSQL LISTEN on 'mrsm_auth', on a connection of its own.

While it hears, the credential cache is enabled and every notification drops
the entries of the token or user it names. Other kinds of notice ('keys:<kid>') go to the
handler registered for them in `notices`, which is also called with '' on every
(re)connection, since notices sent while we were deaf are lost. When the connection is lost (or a
periodic ping fails) the cache is cleared and disabled at once, and the process
keeps working from the database until it reconnects.

Being connected is not proof of hearing: behind PgBouncer in transaction mode a LISTEN
lands on a pooled server connection and hears nothing, while `SELECT 1` still passes.
So at every ping the listener notifies itself through the pool (the path a revocation
takes) on a channel of its own, and the cache stays on only while that echo comes back
within the ping interval; it is turned on again (emptied) once the echo is heard again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import uuid
from collections.abc import Callable, Mapping

import asyncpg

from service.auth.cache import CredentialCache

log = logging.getLogger("service.auth.revocation")

CHANNEL = "mrsm_auth"
APPLICATION_NAME = "mrsm-auth-listener"


class RevocationListener:
    """LISTEN on `dsn` (a direct connection); the echo is sent through `pool`."""

    def __init__(self, dsn: str, cache: CredentialCache, pool: asyncpg.Pool, *,
                 ping_seconds: float = 2.0, retry_seconds: float = 1.0,
                 notices: Mapping[str, Callable[[str], None]] | None = None) -> None:
        self._dsn = dsn
        self._cache = cache
        self._pool = pool
        self._notices = dict(notices or {})
        self._ping_seconds = ping_seconds
        self._retry_seconds = retry_seconds
        self._task: asyncio.Task | None = None
        self._lost = asyncio.Event()
        # Unique per listener, so that only this process hears its echo (at most 63 bytes).
        self._echo_channel = f"{CHANNEL}_echo_{secrets.token_hex(8)}"
        self._echo_expected = ""
        self._echo_heard = asyncio.Event()
        self._deaf_logged = False
        self._settled = asyncio.Event()  # the first verdict: hearing, deaf, or unreachable
        self.connected = asyncio.Event()  # set while the echo comes back

    async def start(self, *, wait: float = 5.0) -> None:
        self._task = asyncio.create_task(self._run(), name="revocation-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), wait)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._disable()

    def _disable(self) -> None:
        self._cache.enabled = False
        self._cache.clear()
        self.connected.clear()

    def _on_notify(self, conn, pid, channel, payload: str) -> None:
        kind, _, ident = payload.partition(":")
        handler = self._notices.get(kind)
        if handler is not None:
            handler(ident)
            return
        try:
            key = uuid.UUID(ident)
        except ValueError:
            log.warning("ignored a malformed revocation notice")
            return
        if kind == "token":
            self._cache.drop_token(key)
        elif kind == "user":
            self._cache.drop_user(key)
        else:  # something we do not understand: forget everything, to be safe
            self._cache.clear()

    def _on_terminated(self, conn) -> None:
        # Called synchronously by asyncpg: stop trusting the cache before anything else runs.
        self._disable()
        self._lost.set()
        self._echo_heard.set()  # wakes a wait for the echo, which checks `_lost` first

    def _on_echo(self, conn, pid, channel, payload: str) -> None:
        if payload == self._echo_expected:
            self._echo_heard.set()

    async def _echo(self) -> str | None:
        """Notify ourselves through the pool: None when it came back within the interval,
        else what went wrong, for the log."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._ping_seconds
        self._echo_expected = secrets.token_hex(8)
        self._echo_heard.clear()
        sent = False
        try:
            async with asyncio.timeout_at(deadline):
                await self._pool.execute("SELECT pg_notify($1, $2)", self._echo_channel,
                                         self._echo_expected)
                sent = True
                await self._echo_heard.wait()
        except Exception as exc:  # noqa: BLE001 - whatever it is, we did not hear
            if not sent:
                return f"could not send its echo through the pool ({type(exc).__name__})"
            return (f"did not hear its own notification within {self._ping_seconds:.1f} s "
                    "(LISTEN through a pooler? LISTEN_DATABASE_URL must be a direct "
                    "connection to the same database)")
        return "lost its connection" if self._lost.is_set() else None

    def _heard(self) -> None:
        if not self._cache.enabled:
            self._cache.clear()  # changes made while we were deaf are unknown
            self._cache.enabled = True
            log.info("listening for revocations")
        if self._deaf_logged:
            self._deaf_logged = False
            log.warning("revocation listener hears its own notifications again; "
                        "credential cache on")
        self.connected.set()
        self._settled.set()

    def _deaf(self, why: str) -> None:
        self._disable()
        if not self._deaf_logged:  # one line per episode, not one per ping
            self._deaf_logged = True
            log.warning("revocation listener %s; credential cache off", why)
        self._settled.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(
                    self._dsn, timeout=5, statement_cache_size=0,
                    # The pid tells operators (and tests) whose listener a backend is.
                    server_settings={"application_name": f"{APPLICATION_NAME}-{os.getpid()}"},
                )
                conn.add_termination_listener(self._on_terminated)
                self._lost.clear()
                await conn.add_listener(CHANNEL, self._on_notify)
                await conn.add_listener(self._echo_channel, self._on_echo)
                for handler in self._notices.values():
                    handler("")
                while not self._lost.is_set():
                    next_ping = loop.time() + self._ping_seconds
                    why = await self._echo()
                    if why is None:
                        self._heard()
                    elif not self._lost.is_set():
                        self._deaf(why)
                    if self._lost.is_set():
                        break
                    await conn.fetchval("SELECT 1", timeout=self._ping_seconds)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._lost.wait(),
                                               max(0.0, next_ping - loop.time()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: stay safe, retry
                log.warning("revocation listener lost (%s); serving from the database",
                            type(exc).__name__)
            finally:
                self._disable()
                self._settled.set()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(self._retry_seconds)
