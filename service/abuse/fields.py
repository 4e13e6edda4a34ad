"""The per-token limit fields of /tokens: validation and output."""

from __future__ import annotations

import ipaddress
from typing import Any

import marshmallow as ma

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


def cidrs_out(value) -> list[str] | None:
    return [str(n) for n in value] if value is not None else None
