"""What the /pipes routes and the `sql:` connector both need: a pipe that must exist,
parameters that must be storable, keys that must be well formed."""

from __future__ import annotations

import asyncpg

from service.errors import ApiError, not_found
from service.pipes import repo
from service.pipes.repo import Keys
from service.pipes.rows import JsonNotStorable, encode_json
from service.pipes.schemas import key_error


def key_errors(connector_keys: str, metric_key: str,
               location_key: str | None) -> dict[str, list[str]]:
    """Each malformed key's error, by field (a location of None is none, not malformed)."""
    given = {"connector_keys": connector_keys, "metric_key": metric_key,
             "location_key": location_key}
    return {name: [err] for name, value in given.items()
            if not (name == "location_key" and value is None) and (err := key_error(value))}


def storable(value: dict, field: str = "parameters") -> dict:
    """`value`, when PostgreSQL can store it as JSON; else the 422 naming `field`."""
    try:
        encode_json(value)
    except JsonNotStorable as err:
        raise ApiError(422, "validation_error", "The parameters cannot be stored.",
                       fields={field: [str(err)]}) from None
    return value


async def existing(conn: asyncpg.Connection, keys: Keys, **kwargs) -> asyncpg.Record:
    """The pipe's row (`kwargs` as `repo.by_keys`'s); a 404 when there is none."""
    row = await repo.by_keys(conn, *keys, **kwargs)
    if row is None:
        raise not_found("pipe")
    return row
