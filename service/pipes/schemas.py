"""Request and response shapes for /pipes."""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma

from service.pipes.rows import MAX_ROWS
from service.validation import AwareDateTime, StrictSchema, isoformat, page_of

KEY_PATTERN = r"^[A-Za-z0-9_.:-]{1,100}$"
_KEY = re.compile(KEY_PATTERN)
NOT_KEYS = frozenset({"-", ".", ".."})
KEY_RULE = "1 to 100 characters of A-Z a-z 0-9 _ . : - (not '-', '.' or '..' alone)"
NO_LOCATION = "-"  # in a path or a filter: the pipe has no location
MAX_READ_LIMIT = 100_000


def key_error(value: Any) -> str | None:
    """Why `value` is not a pipe key, or None when it is one."""
    # fullmatch: with match, "$" also matches before a final newline, so "abc\n" passed.
    if not isinstance(value, str) or not _KEY.fullmatch(value) or value in NOT_KEYS:
        return KEY_RULE
    return None


def _validate_key(value: str) -> None:
    if key_error(value):
        raise ma.ValidationError(KEY_RULE)


def key_field(**kwargs: Any) -> ma.fields.String:
    # The Regexp validator is there for /openapi.json's "pattern"; _validate_key also
    # refuses '-', '.' and '..'.
    return ma.fields.String(validate=[ma.validate.Regexp(KEY_PATTERN, error=KEY_RULE),
                                      _validate_key], **kwargs)


class PipeCreateSchema(StrictSchema):
    connector_keys = key_field(required=True)
    metric_key = key_field(required=True)
    location_key = key_field(allow_none=True, load_default=None,
                             metadata={"description": "omitted or null: no location"})
    parameters = ma.fields.Dict(load_default=dict)


class PipeUpdateSchema(StrictSchema):
    parameters = ma.fields.Dict(
        required=True,
        metadata={"description": "merged into the parameters (RFC 7386: null removes a key)"},
    )


class PipeSchema(ma.Schema):
    connector_keys = ma.fields.String()
    metric_key = ma.fields.String()
    location_key = ma.fields.String(allow_none=True)
    parameters = ma.fields.Dict()
    created_at = AwareDateTime()


class PipeDetailSchema(PipeSchema):
    row_count = ma.fields.Integer()
    first_timestamp = AwareDateTime(allow_none=True)
    last_timestamp = AwareDateTime(allow_none=True)


PipeListSchema = page_of(PipeSchema, "PipeListSchema")


class PipeQuerySchema(StrictSchema):
    connector_keys = key_field()
    metric_key = key_field()
    location_key = ma.fields.String(
        metadata={"description": "a location key, or '-' for pipes without a location"})
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=1000))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=2**31 - 1))

    @ma.validates("location_key")
    def _location(self, value: str, **kwargs: Any) -> None:
        if value != NO_LOCATION and key_error(value):
            raise ma.ValidationError(KEY_RULE + ", or '-' for no location")


class WriteQuerySchema(StrictSchema):
    create = ma.fields.Boolean(load_default=False,
                               metadata={"description": "register the pipe if it is missing"})


class _RangeSchema(StrictSchema):
    begin = AwareDateTime(metadata={"description": "inclusive; ISO 8601, no offset means UTC"})
    end = AwareDateTime(metadata={"description": "exclusive; ISO 8601, no offset means UTC"})

    @ma.validates_schema
    def _ordered(self, data: dict, **kwargs: Any) -> None:
        if "begin" in data and "end" in data and data["end"] <= data["begin"]:
            raise ma.ValidationError("must be later than begin", "end")


class ReadQuerySchema(_RangeSchema):
    limit = ma.fields.Integer(load_default=1000,
                              validate=ma.validate.Range(min=1, max=MAX_READ_LIMIT))


class DeleteRangeQuerySchema(_RangeSchema):
    @ma.validates_schema
    def _bounded(self, data: dict, **kwargs: Any) -> None:
        if "begin" not in data and "end" not in data:
            raise ma.ValidationError("give begin, end or both", "_schema")


class WrittenSchema(ma.Schema):
    inserted = ma.fields.Integer()
    updated = ma.fields.Integer()


class DeletedSchema(ma.Schema):
    deleted = ma.fields.Integer()


# Raw JSON Schema for what marshmallow does not describe: rows carry any value columns.
ROW_JSON_SCHEMA: dict = {
    "type": "object",
    "required": ["timestamp"],
    "properties": {"timestamp": {"type": "string", "format": "date-time",
                                 "description": "ISO 8601; no offset means UTC"}},
    "additionalProperties": True,
}
ROWS_BODY: dict = {"type": "array", "maxItems": MAX_ROWS, "items": ROW_JSON_SCHEMA}
ROWS_PAGE: dict = {
    "type": "object",
    "required": ["items", "next"],
    "properties": {
        "items": {"type": "array", "items": ROW_JSON_SCHEMA},
        "next": {"type": ["string", "null"],
                 "description": "path and query of the next page; null at the end"},
    },
}


def _iso(value):
    return isoformat(value) if value is not None else None


def pipe_out(row, stats=None) -> dict:
    """A pipe as the routes show it; with `stats`, its row count and time span too."""
    out = {
        "connector_keys": row["connector_keys"],
        "metric_key": row["metric_key"],
        "location_key": row["location_key"],
        "parameters": row["parameters"],
        "created_at": _iso(row["created_at"]),
    }
    if stats is not None:
        out["row_count"] = stats["row_count"]
        out["first_timestamp"] = _iso(stats["first_timestamp"])
        out["last_timestamp"] = _iso(stats["last_timestamp"])
    return out
