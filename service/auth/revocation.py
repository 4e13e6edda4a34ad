"""Hearing revocations: PostgreSQL LISTEN on 'mrsm_auth', on a connection of its own.

While connected, the credential cache is enabled and every notification drops
the entries of the token or user it names. Other kinds of notice ('keys:<kid>') go to the
handler registered for them in `notices`, which is also called with '' on every
(re)connection, since notices sent while we were deaf are lost. When the connection is lost (or a
periodic ping fails) the cache is cleared and disabled at once, and the process
keeps working from the database until it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Mapping

import asyncpg

from service.auth.cache import CredentialCache

log = logging.getLogger("service.auth.revocation")

CHANNEL = "mrsm_auth"
APPLICATION_NAME = "mrsm-auth-listener"


class RevocationListener:
    def __init__(self, dsn: str, cache: CredentialCache, *, ping_seconds: float = 2.0,
                 retry_seconds: float = 1.0,
                 notices: Mapping[str, Callable[[str], None]] | None = None) -> None:
        self._dsn = dsn
        self._cache = cache
        self._notices = dict(notices or {})
        self._ping_seconds = ping_seconds
        self._retry_seconds = retry_seconds
        self._task: asyncio.Task | None = None
        self._lost = asyncio.Event()
        self.connected = asyncio.Event()

    async def start(self, *, wait: float = 5.0) -> None:
        self._task = asyncio.create_task(self._run(), name="revocation-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), wait)

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

    async def _run(self) -> None:
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(
                    self._dsn, timeout=5,
                    # The pid tells operators (and tests) whose listener a backend is.
                    server_settings={"application_name": f"{APPLICATION_NAME}-{os.getpid()}"},
                )
                conn.add_termination_listener(self._on_terminated)
                await conn.add_listener(CHANNEL, self._on_notify)
                self._lost.clear()
                self._cache.clear()  # changes made while we were deaf are unknown
                self._cache.enabled = True
                for handler in self._notices.values():
                    handler("")
                self.connected.set()
                log.info("listening for revocations")
                while not self._lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._lost.wait(), self._ping_seconds)
                    if not self._lost.is_set():
                        await conn.fetchval("SELECT 1", timeout=self._ping_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: stay safe, retry
                log.warning("revocation listener lost (%s); serving from the database",
                            type(exc).__name__)
            finally:
                self._disable()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(self._retry_seconds)
