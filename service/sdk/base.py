"""What every instance connector shares: its error, the sync bridge, the method set.

A connector's `a*` coroutines are the async variant: they take and return the
HTTP API's JSON shapes and raise `InstanceError`. The synchronous methods the
seed uses (`get_tokens`, ...) wrap them and return `Token` / `User` objects.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from service.sdk.token import Token
    from service.sdk.user import User

T = TypeVar("T")
PAGE_SIZE = 1000  # the API's largest page


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


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, on a private event loop.

    Each call gets a fresh loop (asyncio.run), and every connection a call opens is
    closed before it returns, so nothing outlives the call. Called from a thread that
    already runs a loop (a notebook, an async app), the work goes to a helper thread
    rather than failing; async code should prefer the `a*` coroutines.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Connector:
    """An instance: where tokens and users live (`sql:LABEL` or `api:LABEL`)."""

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
                          offset: int = 0) -> dict:
        """GET /tokens: one page, `{"items", "total", "limit", "offset"}`."""
        raise NotImplementedError

    async def aget_token(self, token_id: str) -> dict:
        raise NotImplementedError

    async def aedit_token(self, token_id: str, changes: dict) -> dict:
        raise NotImplementedError

    async def ainvalidate_token(self, token_id: str) -> dict:
        raise NotImplementedError

    async def adelete_token(self, token_id: str) -> None:
        raise NotImplementedError

    async def acreate_user(self, body: dict) -> dict:
        raise NotImplementedError

    async def auser_page(self, *, limit: int = 100, offset: int = 0) -> dict:
        raise NotImplementedError

    async def adelete_user(self, username: str) -> None:
        raise NotImplementedError

    async def alist_tokens(self, user: str | None = None) -> list[dict]:
        """Every token visible to the connector (of `user` if given), all pages."""
        items: list[dict] = []
        while True:
            page = await self.atoken_page(user=user, limit=PAGE_SIZE, offset=len(items))
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

    # --- the synchronous API of the seed -------------------------------------------

    def get_tokens(self, user: User | str | None = None) -> list[Token]:
        """The tokens of `user`; with no user, every token an admin may see (ownerless
        ones included), or only the connector user's own for a regular user."""
        from service.sdk.token import Token

        name = None if user is None else str(user)
        return [Token.from_dict(item, instance=self) for item in run(self.alist_tokens(name))]

    def get_token(self, token_id: str) -> Token:
        """One token by its Client ID; raises InstanceError when there is none."""
        from service.sdk.token import Token

        return Token.from_dict(run(self.aget_token(str(token_id))), instance=self)

    def get_users(self) -> list[User]:
        from service.sdk.user import User

        return [User.from_dict(item, instance=self) for item in run(self.alist_users())]
