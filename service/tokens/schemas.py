"""Request and response shapes for /tokens."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

import marshmallow as ma

from service.auth.pipe_access import MAX_PATTERNS, NO_LOCATION, WILDCARD
from service.auth.scopes import SCOPES, order
from service.pipes.schemas import KEY_RULE, key_error
from service.tokens.repo import SORTS, STATES
from service.users.schemas import scope_list
from service.validation import (
    USERNAME,
    AwareDateTime,
    StrictSchema,
    isoformat,
    page_of,
    storable_text,
)

LABEL = [ma.validate.Length(min=1, max=100), storable_text]

# The token's own limits (enforced by service.abuse).
MAX_RATE_LIMIT = 1_000_000
MAX_CIDRS = 64


def rate_limit_field() -> ma.fields.Integer:
    return ma.fields.Integer(
        strict=True, allow_none=True,
        validate=ma.validate.Range(min=1, max=MAX_RATE_LIMIT),
        metadata={"description": "requests per minute with this token (per process); "
                                 "null: no limit"},
    )


class CidrList(ma.fields.List):
    """A non-empty list of networks in CIDR notation, deserialized to `ip_network`s."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(ma.fields.String(), allow_none=True,
                         validate=ma.validate.Length(min=1, max=MAX_CIDRS),
                         metadata={"description": "networks the token may be used from, "
                                                  "e.g. [\"10.0.0.0/8\"]; null: anywhere"},
                         **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list:
        items = super()._deserialize(value, attr, data, **kwargs)
        networks, errors = [], {}
        for index, item in enumerate(items):
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=True))
            except ValueError:
                errors[index] = [f"{item!r} is not a network in CIDR notation "
                                 "(host bits must be zero, e.g. 10.0.0.0/8)"]
        if errors:
            raise ma.ValidationError(errors)
        return sorted(set(networks), key=lambda n: (n.version, n))


PIPE_PATTERN_RULE = ("<connector_keys>/<metric_key>/<location_key>, each part a key or '*', "
                     f"the location '-' for none; a key is {KEY_RULE}")


def pipe_pattern_error(text: str) -> str | None:
    """Why `text` is not a pipe pattern, or None when it is one."""
    parts = text.split("/")
    if len(parts) == 3 and all(
            part == WILDCARD or (index == 2 and part == NO_LOCATION) or not key_error(part)
            for index, part in enumerate(parts)):
        return None
    shown = f"{text!r} is" if len(text) <= 310 else "this is"  # the longest pattern: 302
    return f"{shown} not a pipe pattern: {PIPE_PATTERN_RULE}"


class PipePatternList(ma.fields.List):
    """1 to 64 pipe patterns, duplicates dropped, order kept; null: every pipe."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(ma.fields.String(), allow_none=True,
                         validate=ma.validate.Length(min=1, max=MAX_PATTERNS),
                         metadata={"description": "the pipes the token may reach, e.g. "
                                                  "[\"mqtt:garden/*/*\"]: " + PIPE_PATTERN_RULE
                                                  + "; null: every pipe"},
                         **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list:
        items = super()._deserialize(value, attr, data, **kwargs)
        errors = {i: [err] for i, item in enumerate(items) if (err := pipe_pattern_error(item))}
        if errors:
            raise ma.ValidationError(errors)
        return list(dict.fromkeys(items))


def cidrs_out(value) -> list[str] | None:
    return [str(n) for n in value] if value is not None else None


class TokenCreateSchema(StrictSchema):
    label = ma.fields.String(validate=LABEL)
    expiration = AwareDateTime(allow_none=True,
                               metadata={"description": "ISO 8601; no offset means UTC; "
                                                        "null: never (if the policy allows)"})
    scopes = scope_list()
    user = ma.fields.String(validate=USERNAME, metadata={"description": "owner (admins only)"})
    rate_limit = rate_limit_field()
    allowed_cidrs = CidrList()
    pipes = PipePatternList()


class TokenUpdateSchema(StrictSchema):
    label = ma.fields.String(validate=LABEL)
    expiration = AwareDateTime(allow_none=True)
    scopes = scope_list()
    rate_limit = rate_limit_field()
    allowed_cidrs = CidrList()
    pipes = PipePatternList()


# A rotation's overlap: how long the previous secret keeps working (30 days at most).
MAX_OVERLAP_SECONDS = 30 * 86400
DEFAULT_OVERLAP_SECONDS = 3600
MAX_LEAKED_KEYS = 1000
INVALIDATED_REASONS = ("invalidated", "leaked", "owner deleted")


class TokenRotateSchema(StrictSchema):
    overlap_seconds = ma.fields.Integer(
        strict=True, load_default=DEFAULT_OVERLAP_SECONDS,
        validate=ma.validate.Range(min=0, max=MAX_OVERLAP_SECONDS),
        metadata={"description": "how long the previous secret keeps working; 0 ends it, "
                                 "and every JWT issued before, at once"})


class LeakReportSchema(StrictSchema):
    keys = ma.fields.List(ma.fields.String(validate=ma.validate.Length(max=1000)),
                          required=True, validate=ma.validate.Length(min=1, max=MAX_LEAKED_KEYS),
                          metadata={"description": "API keys found in public (mrsm-key:...)"})
    url = ma.fields.String(validate=[ma.validate.Length(max=2048), storable_text],
                           metadata={"description": "where they were found"})


class LeakReceivedSchema(ma.Schema):
    received = ma.fields.Integer(metadata={"description": "how many keys were received"})


class SourceSchema(ma.Schema):
    address = ma.fields.String()
    last_seen_at = AwareDateTime()


class TokenSchema(ma.Schema):
    id = ma.fields.UUID()
    label = ma.fields.String()
    user = ma.fields.String(allow_none=True)
    scopes = ma.fields.List(ma.fields.String())
    expiration = AwareDateTime(allow_none=True)
    created_at = AwareDateTime()
    is_valid = ma.fields.Boolean()
    invalidated_at = AwareDateTime(allow_none=True)
    last_used_at = AwareDateTime(allow_none=True)
    rate_limit = ma.fields.Integer(allow_none=True)
    allowed_cidrs = ma.fields.List(ma.fields.String(), allow_none=True)
    pipes = ma.fields.List(ma.fields.String(), allow_none=True,
                           metadata={"description": "the pipes it may reach; null: every pipe"})
    invalidated_reason = ma.fields.String(
        allow_none=True, validate=ma.validate.OneOf(INVALIDATED_REASONS),
        metadata={"description": "why the token is no longer valid; null while valid "
                                 "(and for a token that only expired)"})
    previous_secret_expires_at = AwareDateTime(
        allow_none=True, metadata={"description": "when the secret before the last rotation "
                                                  "stops working; null when none does"})
    recent_sources = ma.fields.List(ma.fields.Nested(SourceSchema), metadata={
        "description": "the last client addresses it was used from, newest first"})


class TokenCreatedSchema(TokenSchema):
    secret = ma.fields.String(metadata={"description": "shown once, never again"})
    api_key = ma.fields.String(metadata={"description": "shown once, never again"})


TokenListSchema = page_of(TokenSchema, "TokenListSchema")


class TokenQuerySchema(StrictSchema):
    user = ma.fields.String(validate=USERNAME,
                            metadata={"description": "the owner's username (admins: anyone's)"})
    q = ma.fields.String(validate=[ma.validate.Length(min=1, max=100), storable_text],
                         metadata={"description": "text in the label or the owner's username "
                                                  "(any case), or the start of the client ID"})
    scope = ma.fields.String(validate=ma.validate.OneOf(list(SCOPES)),
                             metadata={"description": "tokens holding this scope"})
    state = ma.fields.String(validate=ma.validate.OneOf(STATES),
                             metadata={"description": "expiring_soon: valid, and expiring "
                                                      "within TOKEN_EXPIRY_WARNING_DAYS "
                                                      "(GET /config)"})
    sort = ma.fields.String(load_default="created", validate=ma.validate.OneOf(SORTS))
    order = ma.fields.String(load_default="desc", validate=ma.validate.OneOf(["asc", "desc"]))
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=1000))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=2**31 - 1))
    expires_before = AwareDateTime(metadata={
        "description": "ISO 8601: only valid tokens that expire before then"})


def _iso(value):
    return isoformat(value) if value is not None else None


def _reason(row) -> str | None:
    # The first reason stays: a leaked token whose owner is deleted later was leaked.
    if row["invalidated_reason"] is not None:
        return row["invalidated_reason"]
    if row["username"] is None:
        return "owner deleted"
    return "invalidated" if row["invalidated_at"] is not None else None


def _sources(stored) -> list[dict]:
    # Stored by the last-used flush as PostgreSQL renders a time; shown as every time is.
    return [{"address": s["address"],
             "last_seen_at": isoformat(datetime.fromisoformat(s["last_seen_at"]))}
            for s in stored or ()]


def token_out(row, now) -> dict:
    """A token as every route shows it: never a secret, never a hash."""
    expired = row["expiration"] is not None and row["expiration"] <= now
    previous = row["previous_secret_expires_at"]
    return {
        "id": str(row["id"]),
        "label": row["label"],
        "user": row["username"],
        "scopes": order(row["scopes"]),
        "expiration": _iso(row["expiration"]),
        "created_at": _iso(row["created_at"]),
        "is_valid": row["invalidated_at"] is None and row["username"] is not None and not expired,
        "invalidated_at": _iso(row["invalidated_at"]),
        "last_used_at": _iso(row["last_used_at"]),
        "rate_limit": row["rate_limit"],
        "allowed_cidrs": cidrs_out(row["allowed_cidrs"]),
        "pipes": list(row["pipes"]) if row["pipes"] is not None else None,
        "invalidated_reason": _reason(row),
        "previous_secret_expires_at": _iso(previous) if previous and previous > now else None,
        "recent_sources": _sources(row["recent_sources"]),
    }
