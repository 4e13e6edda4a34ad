"""The pipe methods of `api:` connectors: the /pipes routes over HTTP.

A mixin of `APIConnector`, which provides `_request(method, path, json=, params=)`.
"""

from __future__ import annotations

from urllib.parse import quote

NO_LOCATION = "-"  # the path's location of a pipe without one
READ_PAGE = 100_000  # the largest page GET {pipe}/data gives


def pipe_path(connector_keys: str, metric_key: str, location_key: str | None) -> str:
    """/pipes/CK/MK/LK with each key one quoted path segment ('-' for no location)."""
    parts = (connector_keys, metric_key, NO_LOCATION if location_key is None else location_key)
    return "/pipes/" + "/".join(quote(str(part), safe="") for part in parts)


class APIPipes:
    """The pipe methods of BaseConnector, for a class that has `_request`."""

    async def apipe_page(self, *, filters: dict, limit: int = 100, offset: int = 0) -> dict:
        params = {**{k: str(v) for k, v in filters.items()}, "limit": str(limit),
                  "offset": str(offset)}
        return await self._request("GET", "/pipes", params=params)

    async def aget_pipe(self, connector_keys: str, metric_key: str,
                        location_key: str | None) -> dict:
        return await self._request("GET", pipe_path(connector_keys, metric_key, location_key))

    async def acreate_pipe(self, body: dict) -> dict:
        return await self._request("POST", "/pipes", json=body)

    async def aedit_pipe(self, connector_keys: str, metric_key: str, location_key: str | None,
                         patch: dict) -> dict:
        return await self._request("PATCH", pipe_path(connector_keys, metric_key, location_key),
                                   json={"parameters": patch})

    async def adelete_pipe(self, connector_keys: str, metric_key: str,
                           location_key: str | None) -> None:
        await self._request("DELETE", pipe_path(connector_keys, metric_key, location_key))

    async def awrite_rows(self, connector_keys: str, metric_key: str, location_key: str | None,
                          rows: list[dict], *, create: bool = False) -> dict:
        path = pipe_path(connector_keys, metric_key, location_key) + "/data"
        return await self._request("POST", path, json=rows,
                                   params={"create": "true"} if create else None)

    async def aread_rows(self, connector_keys: str, metric_key: str, location_key: str | None,
                         *, begin: str | None = None, end: str | None = None) -> list[dict]:
        params = {"limit": str(READ_PAGE)}
        if begin is not None:
            params["begin"] = begin
        if end is not None:
            params["end"] = end
        path: str | None = pipe_path(connector_keys, metric_key, location_key) + "/data"
        rows: list[dict] = []
        first = True
        while path is not None:
            # `next` is the path and query of the following page, as the service wrote it.
            page = await self._request("GET", path, params=params if first else None)
            rows.extend(page["items"])
            path, first = page["next"], False
        return rows
