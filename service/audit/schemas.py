"""Request and response shapes for /audit."""

from __future__ import annotations

import marshmallow as ma

from service.audit.repo import KINDS
from service.validation import USERNAME, AwareDateTime, StrictSchema, isoformat, page_of


class AuditQuerySchema(StrictSchema):
    user = ma.fields.String(validate=USERNAME,
                            metadata={"description": "events by or about this username"})
    token = ma.fields.UUID(metadata={"description": "events by or about this token (client ID)"})
    kind = ma.fields.String(validate=ma.validate.OneOf(KINDS))
    since = AwareDateTime(metadata={"description": "from this time (inclusive)"})
    until = AwareDateTime(metadata={"description": "before this time (exclusive)"})
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=1000))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=2**31 - 1))

    @ma.validates_schema
    def _ordered(self, data: dict, **kwargs) -> None:
        if "since" in data and "until" in data and data["since"] > data["until"]:
            raise ma.ValidationError("must not be before 'since'", field_name="until")


class AuditEventSchema(ma.Schema):
    id = ma.fields.Integer()
    at = AwareDateTime()
    kind = ma.fields.String()
    actor_user_id = ma.fields.UUID(allow_none=True)
    actor_username = ma.fields.String(allow_none=True)
    actor_token_id = ma.fields.UUID(allow_none=True)
    actor_kind = ma.fields.String(allow_none=True)
    source = ma.fields.String(allow_none=True, metadata={"description": "client address"})
    target_user_id = ma.fields.UUID(allow_none=True)
    target_username = ma.fields.String(allow_none=True)
    target_token_id = ma.fields.UUID(allow_none=True)
    details = ma.fields.Dict()


AuditListSchema = page_of(AuditEventSchema, "AuditListSchema")


def _text(value) -> str | None:
    return str(value) if value is not None else None


def event_out(row) -> dict:
    return {
        "id": row["id"],
        "at": isoformat(row["at"]),
        "kind": row["kind"],
        "actor_user_id": _text(row["actor_user_id"]),
        "actor_username": row["actor_username"],
        "actor_token_id": _text(row["actor_token_id"]),
        "actor_kind": row["actor_kind"],
        "source": row["source"],
        "target_user_id": _text(row["target_user_id"]),
        "target_username": row["target_username"],
        "target_token_id": _text(row["target_token_id"]),
        "details": row["details"],
    }
