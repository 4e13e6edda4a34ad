"""The bottom of the SDK: its error, the sync bridge, and the connectors' async methods.

A connector's `a*` coroutines are the async variant: they take and return the
HTTP API's JSON shapes and raise `InstanceError`. The synchronous methods the seed
uses (`get_tokens`, ...) return `Token` / `User` objects, so they are added above
those classes, in `service.sdk.connector`; nothing here knows of them.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("service.sdk")
PAGE_SIZE = 1000  # the API's largest page
MIN_ID_PREFIX = 8  # as git: shorter prefixes would soon name several tokens
_HEX = frozenset("0123456789abcdef")


class InstanceError(Exception):
    """An instance refused or could not do something; `str(err)` is one readable line."""

    def __init__(self, description: str, *, status: int | None = None, code: str | None = None,
                 fields: Mapping[str, Any] | None = None) -> None:
        self.description = description
        self.status = status
        self.code = code
        self.fields = dict(fields) if fields else None
        super().__init__(describe(description, self.fields))


def describe(description: str, fields: Mapping[str, Any] | None = None) -> str:
    """One line: the description, then each bad field and what is wrong with it."""
    if not fields or any(str(name).lower() in description.lower() for name in fields):
        return description  # the description already says which field is wrong
    parts = []
    for name, problems in fields.items():
        if isinstance(problems, list | tuple):
            text = ", ".join(str(p) for p in problems)
        elif isinstance(problems, dict):
            text = describe("", problems).lstrip(": ")
        else:
            text = str(problems)
        parts.append(f"{name}: {text}")
    return f"{description.rstrip('.')}: " + "; ".join(parts)


class _SdkLoop:
    """The event loop of the synchronous API: one, in a daemon thread, for the process.

    A long-lived loop lets connectors keep a connection pool and an HTTP session open
    between calls (a fresh connection costs tens of milliseconds on its first query);
    everything is closed by `close_all()`, at the latest when the interpreter exits.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._registered = False

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self.loop is None:
                self.loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self.loop.run_forever,
                                                name="mrsm-sdk", daemon=True)
                self._thread.start()
                if not self._registered:
                    atexit.register(self.close)
                    self._registered = True
            return self.loop

    def close(self) -> None:
        """Close every connector's pool and session, then the loop itself."""
        with self._lock:
            loop, thread, self.loop, self._thread = self.loop, self._thread, None, None
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout=10)
        except Exception as err:  # closing is best effort (often at exit): say so, go on
            log.warning("could not close the connections cleanly: %s", err)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            if not loop.is_running():
                loop.close()


_SDK = _SdkLoop()
_OPEN: set[BaseConnector] = set()  # connectors holding a pool or session on the SDK loop


def on_sdk_loop() -> bool:
    """Whether the running loop is the synchronous API's (where resources may be kept)."""
    return _SDK.loop is not None and asyncio.get_running_loop() is _SDK.loop


def keep_open(connector: BaseConnector) -> None:
    _OPEN.add(connector)


async def close_all() -> None:
    """Close what the connectors keep open on the SDK loop (they reopen on next use)."""
    while _OPEN:
        await _OPEN.pop().aclose()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, on the SDK's own loop.

    Works from a plain script and from a thread whose loop is running (a notebook, an
    async app: that loop waits meanwhile; async code should await the `a*` coroutines).
    """
    loop = _SDK.get()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError("the synchronous API cannot be called from the SDK's own loop")
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result()
    except BaseException:
        future.cancel()  # Ctrl+C: do not leave the call running behind our back
        raise


def shutdown() -> None:
    """Close the SDK loop and everything on it now rather than at exit (tests use this)."""
    _SDK.close()


class BaseConnector:
    """An instance: where tokens and users live (`sql:LABEL` or `api:LABEL`), as the
    async variant sees it."""

    type = "base"

    def __init__(self, label: str = "main") -> None:
        self.label = label

    @property
    def keys(self) -> str:
        return f"{self.type}:{self.label}"

    def __str__(self) -> str:
        return self.keys

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"

    async def aclose(self) -> None:
        """Close what the connector keeps open (it reopens on next use)."""

    # --- the async variant: HTTP shapes in and out, InstanceError on failure -------

    async def awhoami(self) -> dict:
        """The connector's user, as GET /users/me shows it."""
        raise NotImplementedError

    async def aconfig(self) -> dict:
        """The token policy, as GET /config shows it."""
        raise NotImplementedError

    async def acreate_token(self, body: dict) -> dict:
        """POST /tokens: the created token, with its secret and API key (the only time)."""
        raise NotImplementedError

    async def atoken_page(self, *, user: str | None = None, limit: int = 100,
                          offset: int = 0, expires_before: str | None = None) -> dict:
        """GET /tokens: one page, `{"items", "total", "limit", "offset"}`; with
        `expires_before` (ISO 8601), only valid tokens that expire before then."""
        raise NotImplementedError

    async def aget_token(self, token_id: str) -> dict:
        raise NotImplementedError

    async def aedit_token(self, token_id: str, changes: dict) -> dict:
        raise NotImplementedError

    async def ainvalidate_token(self, token_id: str) -> dict:
        raise NotImplementedError

    async def adelete_token(self, token_id: str) -> None:
        raise NotImplementedError

    async def arotate_token(self, token_id: str, overlap_seconds: int) -> dict:
        """POST /tokens/{id}/rotate: the token with its new secret and API key (the only
        time)."""
        raise NotImplementedError

    async def acreate_user(self, body: dict) -> dict:
        raise NotImplementedError

    async def auser_page(self, *, limit: int = 100, offset: int = 0) -> dict:
        raise NotImplementedError

    async def adelete_user(self, username: str) -> None:
        raise NotImplementedError

    async def aedit_user(self, username: str, changes: dict) -> dict:
        """PATCH /users/{username}: `changes` holds any of `password`, `type`, `scopes`."""
        raise NotImplementedError

    async def aintrospect(self, token: str) -> dict:
        """POST /introspect (RFC 7662): `{"active": false}`, or the active credential's
        claims (`scope`, `sub`, `username`, `client_id`, `token_type`, `exp`, ...)."""
        raise NotImplementedError

    async def aresolve_token_id(self, given: str) -> str:
        """The full ID of the token that `given` names: its ID, or a unique prefix of it
        (8 characters at least, without regard to case or hyphens) among the tokens this connector
        may see, so that both instance kinds name tokens alike.

        A full-length ID is returned as given, without a listing: the instance itself
        then says whether there is such a token (and a regular user never learns of
        another's)."""
        text = str(given).strip()
        if len(text) == 36:
            return text
        # Hyphens are ignored, so that "1859abcd0f" and "1859abcd-0f" name the same token.
        wanted = text.lower().replace("-", "")
        if len(wanted) < MIN_ID_PREFIX:
            raise InstanceError(f"A token ID prefix needs {MIN_ID_PREFIX} characters at least; "
                                f"{text!r} has {len(wanted)}.", code="validation_error")
        if len(wanted) > 32 or not set(wanted) <= _HEX:
            raise InstanceError("No such token.", status=404, code="not_found")
        matches = [t for t in await self.alist_tokens()
                   if t["id"].lower().replace("-", "").startswith(wanted)]
        if not matches:
            raise InstanceError(f"No such token. No token ID starts with {text!r}.",
                                status=404, code="not_found")
        if len(matches) > 1:
            listed = "; ".join(f"{t['id']} '{t['label']}' of {t['user'] or '(no owner)'}"
                               for t in sorted(matches, key=lambda t: t["id"]))
            raise InstanceError(f"The token ID prefix {text!r} is ambiguous: it starts "
                                f"{len(matches)} IDs: {listed}. Give more characters.",
                                code="ambiguous")
        return matches[0]["id"]

    # Pipes: keys as strings, a location of None for none; rows as the HTTP API shows them.

    async def apipe_page(self, *, filters: dict, limit: int = 100, offset: int = 0) -> dict:
        """GET /pipes: one page; `filters` holds any of connector_keys, metric_key and
        location_key ('-' for pipes without a location)."""
        raise NotImplementedError

    async def aget_pipe(self, connector_keys: str, metric_key: str,
                        location_key: str | None) -> dict:
        """GET {pipe}: the pipe with its row count and time span; InstanceError 404 if none."""
        raise NotImplementedError

    async def acreate_pipe(self, body: dict) -> dict:
        raise NotImplementedError

    async def aedit_pipe(self, connector_keys: str, metric_key: str, location_key: str | None,
                         patch: dict) -> dict:
        """PATCH {pipe}: `patch` is merged into the parameters (RFC 7386)."""
        raise NotImplementedError

    async def adelete_pipe(self, connector_keys: str, metric_key: str,
                           location_key: str | None) -> None:
        raise NotImplementedError

    async def awrite_rows(self, connector_keys: str, metric_key: str, location_key: str | None,
                          rows: list[dict], *, create: bool = False) -> dict:
        """POST {pipe}/data: `{"inserted", "updated"}`; all the rows land or none do."""
        raise NotImplementedError

    async def aread_rows(self, connector_keys: str, metric_key: str, location_key: str | None,
                         *, begin: str | None = None, end: str | None = None) -> list[dict]:
        """GET {pipe}/data, every page: rows in time order, begin inclusive, end exclusive."""
        raise NotImplementedError

    async def alist_pipes(self, **filters: str) -> list[dict]:
        items: list[dict] = []
        while True:
            page = await self.apipe_page(filters=filters, limit=PAGE_SIZE, offset=len(items))
            items.extend(page["items"])
            if not page["items"] or len(items) >= page["total"]:
                return items

    async def alist_tokens(self, user: str | None = None,
                           expires_before: str | None = None) -> list[dict]:
        """Every token visible to the connector (of `user` if given; with `expires_before`,
        only the valid ones expiring before then), all pages."""
        items: list[dict] = []
        while True:
            page = await self.atoken_page(user=user, limit=PAGE_SIZE, offset=len(items),
                                          expires_before=expires_before)
            items.extend(page["items"])
            if not page["items"] or len(items) >= page["total"]:
                return items

    async def alist_users(self) -> list[dict]:
        items: list[dict] = []
        while True:
            page = await self.auser_page(limit=PAGE_SIZE, offset=len(items))
            items.extend(page["items"])
            if not page["items"] or len(items) >= page["total"]:
                return items
