"""`api:LABEL`: over HTTP to a running service, as the connector's configured user.

Credentials, first found wins: an API key (sent on every request, as the seed's
curl example does), a Client ID + Secret, or a username + password (both traded
at POST /login for a short-lived JWT, kept in memory and renewed when it expires).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import aiohttp

from service.sdk.api_pipes import APIPipes
from service.sdk.base import InstanceError, keep_open, on_sdk_loop
from service.sdk.config import config_path, connector_type, instance_config
from service.sdk.connector import Connector

_FIELDS = {  # attribute: environment variable
    "url": "MRSM_API_URL",
    "api_key": "MRSM_API_KEY",
    "client_id": "MRSM_API_CLIENT_ID",
    "client_secret": "MRSM_API_CLIENT_SECRET",
    "username": "MRSM_API_USERNAME",
    "password": "MRSM_API_PASSWORD",
}
_RENEW_MARGIN = 30  # seconds before a JWT's expiry when it is renewed


@connector_type
class APIConnector(APIPipes, Connector):
    """A running mrsm-tokens service."""

    type = "api"

    def __init__(self, label: str = "main", *, timeout: float = 30.0, **given: Any) -> None:
        super().__init__(label)
        unknown = set(given) - set(_FIELDS)
        if unknown:
            raise TypeError(f"unknown connector attribute(s): {', '.join(sorted(unknown))}")
        self._given = given
        self._resolved: dict[str, str | None] | None = None
        self.timeout = timeout
        self._bearer: tuple[str, float] | None = None
        self._me: dict | None = None
        self._kept: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # never the credentials
        return f"APIConnector({self.label!r}, url={self.url!r})"

    def _conf(self) -> dict[str, str | None]:
        """Each field from the arguments, else the environment, else the config file."""
        if self._resolved is None:
            table = instance_config("api", self.label)
            self._resolved = {
                name: self._given.get(name) or os.environ.get(env) or table.get(name) or None
                for name, env in _FIELDS.items()
            }
        return self._resolved

    @property
    def url(self) -> str | None:
        try:
            url = self._conf()["url"]
        except InstanceError:
            return None
        return url.rstrip("/") if url else None

    @property
    def username(self) -> str | None:
        return self._conf()["username"]

    def _base_url(self) -> str:
        url = self._conf()["url"]  # a broken config file is reported, not taken as no URL
        if not url:
            raise InstanceError(f"{self.keys} has no URL: set MRSM_API_URL or url in "
                                f"[api.{self.label}] of {config_path()}.")
        if not url.startswith(("http://", "https://")):
            raise InstanceError(f"{self.keys}: the URL must start with http:// or https://, "
                                f"not {url!r}.")
        return url.rstrip("/")

    # --- HTTP ------------------------------------------------------------------------

    async def _request(self, method: str, path: str, *, json: Any = None,
                       params: dict | None = None, data: dict | None = None,
                       auth: bool = True) -> Any:
        url = self._base_url() + path
        try:
            async with self._session() as session:
                for attempt in (1, 2):
                    headers = await self._auth_headers(session) if auth else {}
                    async with session.request(method, url, json=json, params=params,
                                               data=data, headers=headers) as resp:
                        # A JWT may die before its time (password changed): log in again once.
                        if resp.status == 401 and self._bearer is not None and attempt == 1:
                            self._bearer = None
                            continue
                        return await _parse(resp)
        except aiohttp.ClientConnectionError as err:
            raise InstanceError(f"Cannot reach {self._base_url()}: {err}") from None
        except aiohttp.ClientError as err:  # a malformed answer, too many redirects, ...
            raise InstanceError(f"HTTP error with {self._base_url()}: {err}") from None
        except TimeoutError:
            raise InstanceError(f"{self._base_url()} did not answer within "
                                f"{self.timeout:g} s.") from None
        raise AssertionError("unreachable")  # pragma: no cover

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[aiohttp.ClientSession]:
        """On the SDK loop, one session kept between calls (keep-alive); else one per call."""
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        if not on_sdk_loop():
            async with aiohttp.ClientSession(timeout=timeout) as session:
                yield session
            return
        if self._kept is None or self._kept.closed:
            self._kept = aiohttp.ClientSession(timeout=timeout)
            keep_open(self)
        yield self._kept

    async def aclose(self) -> None:
        session, self._kept = self._kept, None
        if session is not None:
            await session.close()

    async def _auth_headers(self, session: aiohttp.ClientSession) -> dict[str, str]:
        conf = self._conf()
        if conf["api_key"]:
            return {"Authorization": conf["api_key"]}
        if self._bearer is None or self._bearer[1] <= time.monotonic():
            if conf["client_id"] and conf["client_secret"]:
                form = {"grant_type": "client_credentials", "client_id": conf["client_id"],
                        "client_secret": conf["client_secret"]}
            elif conf["username"] and conf["password"]:
                form = {"grant_type": "password", "username": conf["username"],
                        "password": conf["password"]}
            else:
                raise InstanceError(
                    f"{self.keys} has no credentials: set MRSM_API_KEY, or MRSM_API_USERNAME "
                    f"and MRSM_API_PASSWORD (or put them in [api.{self.label}] of "
                    f"{config_path()}).")
            async with session.post(self._base_url() + "/login", data=form) as resp:
                body = await _parse(resp, what="Login failed")
            expires_at = time.monotonic() + max(int(body["expires_in"]) - _RENEW_MARGIN, 1)
            self._bearer = (body["access_token"], expires_at)
        return {"Authorization": f"Bearer {self._bearer[0]}"}

    # --- the connector methods --------------------------------------------------------

    async def aintrospect(self, token: str) -> dict:
        """As a client (client ID and secret) when configured so; else with the connector's
        credential, which /introspect accepts from an admin only."""
        conf = self._conf()
        form = {"token": token}
        if conf["client_id"] and conf["client_secret"] and not conf["api_key"]:
            form.update(client_id=conf["client_id"], client_secret=conf["client_secret"])
            return await self._request("POST", "/introspect", data=form, auth=False)
        return await self._request("POST", "/introspect", data=form)

    async def awhoami(self) -> dict:
        if self._me is None:
            self._me = await self._request("GET", "/users/me")
        return self._me

    async def aconfig(self) -> dict:
        return await self._request("GET", "/config", auth=False)

    async def acreate_token(self, body: dict) -> dict:
        return await self._request("POST", "/tokens", json=body)

    async def atoken_page(self, *, user: str | None = None, limit: int = 100,
                          offset: int = 0, expires_before: str | None = None) -> dict:
        params: dict[str, Any] = {"limit": str(limit), "offset": str(offset)}
        if user is not None:
            params["user"] = user
        if expires_before is not None:
            params["expires_before"] = expires_before
        return await self._request("GET", "/tokens", params=params)

    async def aget_token(self, token_id: str) -> dict:
        return await self._request("GET", f"/tokens/{_segment(token_id)}")

    async def aedit_token(self, token_id: str, changes: dict) -> dict:
        return await self._request("PATCH", f"/tokens/{_segment(token_id)}", json=changes)

    async def ainvalidate_token(self, token_id: str) -> dict:
        return await self._request("POST", f"/tokens/{_segment(token_id)}/invalidate")

    async def adelete_token(self, token_id: str) -> None:
        await self._request("DELETE", f"/tokens/{_segment(token_id)}")

    async def arotate_token(self, token_id: str, overlap_seconds: int) -> dict:
        return await self._request("POST", f"/tokens/{_segment(token_id)}/rotate",
                                   json={"overlap_seconds": overlap_seconds})

    async def acreate_user(self, body: dict) -> dict:
        return await self._request("POST", "/users", json=body)

    async def auser_page(self, *, limit: int = 100, offset: int = 0) -> dict:
        return await self._request("GET", "/users",
                                   params={"limit": str(limit), "offset": str(offset)})

    async def adelete_user(self, username: str) -> None:
        await self._request("DELETE", f"/users/{_segment(username)}")

    async def aedit_user(self, username: str, changes: dict) -> dict:
        return await self._request("PATCH", f"/users/{_segment(username)}", json=changes)


def _segment(value: str) -> str:
    """A path segment, so an ID like '../users' cannot reach another route."""
    return quote(str(value), safe="")


async def _parse(resp: aiohttp.ClientResponse, what: str | None = None) -> Any:
    """The JSON body of a success (None for 204), or InstanceError from the error body."""
    if resp.status == 204:
        return None
    try:
        body = await resp.json(content_type=None)
    except ValueError:
        body = None
    if resp.status < 400 and body is not None:
        return body
    if isinstance(body, dict) and "error" in body:
        description = body.get("error_description") or body["error"]
        if what:
            description = f"{what}: {description}"
        raise InstanceError(description, status=resp.status, code=body["error"],
                            fields=body.get("fields"))
    raise InstanceError(f"{what or 'The API answered'} HTTP {resp.status} {resp.reason}.",
                        status=resp.status)
