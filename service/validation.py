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


# How deeply a JSON body may nest objects and arrays; the body itself is level 1. Past a
# few hundred levels Python's recursive encoders and decoders (ours, the json module's,
# asyncpg's jsonb codec) overflow, so a value accepted deeper could never be read back.
MAX_JSON_DEPTH = 64
TOO_DEEP = f"nested deeper than {MAX_JSON_DEPTH} levels"


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # The last duplicate would silently win, and another reader of the same body (a proxy,
    # an audit tool) may take the first: the two would act on different requests.
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return result


def _too_deep(value: Any, limit: int) -> bool:
    """Whether `value` nests more than `limit` levels (a scalar is 0, [] is 1); a walk with
    its own stack, so that no depth overflows Python's."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def check_depth(data: Any) -> None:
    """A 422 naming the first top-level field (or array index) nested past MAX_JSON_DEPTH."""
    if not isinstance(data, (dict, list)):
        return
    entries = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in entries:
        if isinstance(value, (dict, list)) and _too_deep(value, MAX_JSON_DEPTH - 1):
            raise ApiError(422, "validation_error",
                           f"The body nests deeper than {MAX_JSON_DEPTH} levels.",
                           fields={str(key): [TOO_DEEP]})


_STRUCTURE = bytes(c for c in range(256) if c not in b'[]{}"\\')


def _shallow(raw: bytes) -> bool:
    """Whether the JSON text `raw` surely nests at most MAX_JSON_DEPTH levels, seen from its
    brackets at C speed; False means "not known" (the exact walk decides).

    Known only when no string holds a bracket or a backslash: its brackets and quotes then
    read as `""` per string, dropped. Each deletion of every "[]" (or "{}") lowers the
    nesting by one level at most, so brackets gone in MAX_JSON_DEPTH deletions are no deeper.
    """
    marks = raw.translate(None, _STRUCTURE)
    if b"\\" in marks:
        return False
    brackets = marks.replace(b'""', b"")
    if b'"' in brackets:
        return False  # a string holds a bracket
    for deletion in range(MAX_JSON_DEPTH):
        if not brackets:
            return True
        brackets = brackets.replace(b"[]" if deletion % 2 else b"{}", b"")
    return not brackets


_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[][{},]')


def _deep_field(raw: bytes) -> str | None:
    """For a body too deep to decode: the top-level key (or index) under which it first
    nests past MAX_JSON_DEPTH, "_schema" if the body itself does, or None when its
    brackets do not balance (then it is not JSON at all)."""
    depth, index, key, expect_key, field = 0, 0, None, False, None
    top = 0
    for match in _TOKENS.finditer(raw):
        token = match.group()
        first = token[0]
        if first == 0x22:  # a string
            if depth == 1 and expect_key:
                try:
                    key = json.loads(token)
                except ValueError:
                    key = token.decode("utf-8", "replace")
                expect_key = False
        elif first in b"[{":
            depth += 1
            if depth == 1:
                top, expect_key = first, first == 0x7B
            elif depth > MAX_JSON_DEPTH and field is None:
                field = (key if top == 0x7B else str(index)) or "_schema"
        elif first in b"]}":
            depth -= 1
            if depth < 0:
                return None
        elif depth == 1:  # a comma between two members
            index += 1
            expect_key = top == 0x7B
    return field if depth == 0 else None


async def read_json(request: web.Request) -> Any:
    """The request body as JSON: 415 for another content type, 400 for bad JSON or a
    repeated key in an object, 413 if too big, 422 if nested past MAX_JSON_DEPTH."""
    if request.content_type != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Send the body as application/json, not {request.content_type or 'nothing'}.",
        )
    raw = await request.read()  # aiohttp raises 413 past client_max_size
    try:
        data = json.loads(raw, object_pairs_hook=_unique_keys)
    except DuplicateKey as err:
        raise ApiError(400, "invalid_request",
                       f"The key {json.dumps(err.key)} appears more than once in an object."
                       ) from None
    except RecursionError:
        # Too deep for the decoder itself (hundreds of levels): the field is found by
        # scanning the text; brackets that never close are simply not JSON.
        field = _deep_field(raw)
        if field is None:
            raise ApiError(400, "invalid_request", "The body is not valid JSON.") from None
        raise ApiError(422, "validation_error",
                       f"The body nests deeper than {MAX_JSON_DEPTH} levels.",
                       fields={field: [TOO_DEEP]}) from None
    # ValueError covers JSONDecodeError, UnicodeDecodeError and an integer literal past
    # Python's 4300-digit limit.
    except ValueError:
        raise ApiError(400, "invalid_request", "The body is not valid JSON.") from None
    # Fewer brackets than the limit cannot nest past it: most bodies skip the walk, and
    # most of the others (rows of flat objects) are shown shallow from their brackets.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and not _shallow(raw):
        check_depth(data)
    return data


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
