"""Reading request bodies and queries through marshmallow schemas."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from aiohttp import web

from service.errors import ApiError


def _fields(messages: Any) -> dict[str, Any]:
    if isinstance(messages, dict):
        return {str(k): v for k, v in messages.items()}
    return {"_schema": messages if isinstance(messages, list) else [str(messages)]}


def validate(schema: ma.Schema, data: Any, *,
             description: str = "The request is not valid.") -> Any:
    """Load `data` with `schema`, or raise a 422 naming each bad field."""
    try:
        return schema.load(data)
    except ma.ValidationError as err:
        raise ApiError(422, "validation_error", description, fields=_fields(err.messages)) from None


async def read_json(request: web.Request) -> Any:
    """The request body as JSON: 415 for another content type, 400 for bad JSON, 413 if too big."""
    if request.content_type != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Send the body as application/json, not {request.content_type or 'nothing'}.",
        )
    raw = await request.read()  # aiohttp raises 413 past client_max_size
    try:
        return json.loads(raw)
    # ValueError covers JSONDecodeError, UnicodeDecodeError and an integer literal past
    # Python's 4300-digit limit; RecursionError is deep nesting such as "[[[[...".
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_request", "The body is not valid JSON.") from None


async def load_body(request: web.Request, schema: ma.Schema) -> Any:
    data = await read_json(request)
    if not isinstance(data, dict) and not schema.many:
        raise ApiError(422, "validation_error", "The body must be a JSON object.",
                       fields={"_schema": ["must be a JSON object"]})
    return validate(schema, data)


def load_query(request: web.Request, schema: ma.Schema) -> Any:
    """Query parameters through a schema; a repeated parameter is a 422."""
    query: Mapping[str, str] = request.query
    flat: dict[str, str] = {}
    for key in query:
        values = query.getall(key)
        if len(values) > 1:
            raise ApiError(422, "validation_error", "A query parameter is repeated.",
                           fields={key: ["given more than once"]})
        flat[key] = values[0]
    return validate(schema, flat, description="The query parameters are not valid.")


def storable_text(value: str) -> None:
    """Refuse text PostgreSQL cannot store (NUL) or UTF-8 cannot encode (unpaired surrogates,
    which JSON's \\ud800 escapes can produce): either would be a 500 further on."""
    if "\x00" in value:
        raise ma.ValidationError("must not contain the NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ma.ValidationError("must not contain unpaired surrogates") from None


class AwareDateTime(ma.fields.DateTime):
    """ISO 8601; a time without an offset means UTC. Always returns an aware datetime in UTC."""

    default_error_messages = {
        "invalid": "Not a valid ISO 8601 date and time.",
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise self.make_error("invalid") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise self.make_error("invalid") from None

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return isoformat(value)


def isoformat(value: datetime) -> str:
    """UTC, ISO 8601, with a `Z`."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class StrictSchema(ma.Schema):
    """Unknown fields are refused: no mass assignment."""

    class Meta:
        unknown = ma.RAISE


def page_of(item: type[ma.Schema], name: str) -> type[ma.Schema]:
    """The shape every listing answers: `{items, total, limit, offset}`."""
    return ma.Schema.from_dict({
        "items": ma.fields.List(ma.fields.Nested(item)),
        "total": ma.fields.Integer(),
        "limit": ma.fields.Integer(),
        "offset": ma.fields.Integer(),
    }, name=name)


class FullMatch(ma.validate.Regexp):
    """A Regexp the whole value must match.

    Python's `$` also matches before a final newline, which let a username ending in a
    newline through to the database's CHECK constraint (a 500).
    """

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self._format_error(value))
        return value


# The username rule, here at the bottom so that every layer (configuration included) uses it.
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,60}$")
USERNAME = FullMatch(USERNAME_PATTERN, error="1 to 60 characters of A-Z a-z 0-9 _ . @ -")
RESERVED_USERNAMES = frozenset({"me"})
