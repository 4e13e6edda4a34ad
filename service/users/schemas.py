"""Request and response shapes for /users."""

from __future__ import annotations

import marshmallow as ma

from service.auth.scopes import ALL_SCOPES, order
from service.validation import (
    RESERVED_USERNAMES,
    USERNAME,
    AwareDateTime,
    StrictSchema,
    page_of,
    storable_text,
)

PASSWORD = [ma.validate.Length(min=8, max=1024), storable_text]


def _known_scopes(value: list[str]) -> None:
    unknown = [s for s in value if s not in ALL_SCOPES]
    if unknown:
        raise ma.ValidationError(f"unknown scope(s): {', '.join(unknown)}")


def scope_list(**kwargs) -> ma.fields.List:
    return ma.fields.List(ma.fields.String(), validate=_known_scopes, **kwargs)


class UserCreateSchema(StrictSchema):
    username = ma.fields.String(required=True, validate=USERNAME)
    password = ma.fields.String(required=True, validate=PASSWORD, load_only=True)
    type = ma.fields.String(load_default="user", validate=ma.validate.OneOf(["admin", "user"]))
    scopes = scope_list(load_default=None)

    @ma.validates("username")
    def _not_reserved(self, value: str, **kwargs) -> None:
        if value.lower() in RESERVED_USERNAMES:
            raise ma.ValidationError(f"'{value}' is reserved")


class UserUpdateSchema(StrictSchema):
    password = ma.fields.String(validate=PASSWORD, load_only=True)
    type = ma.fields.String(validate=ma.validate.OneOf(["admin", "user"]))
    scopes = scope_list()


class PasswordChangeSchema(StrictSchema):
    current_password = ma.fields.String(required=True,
                                        validate=[ma.validate.Length(max=1024), storable_text])
    new_password = ma.fields.String(required=True, validate=PASSWORD)


class UserSchema(ma.Schema):
    id = ma.fields.UUID()
    username = ma.fields.String()
    type = ma.fields.String()
    scopes = ma.fields.List(ma.fields.String())
    created_at = AwareDateTime()


class TokenRefSchema(ma.Schema):
    id = ma.fields.UUID()
    label = ma.fields.String()


class MeSchema(UserSchema):
    token = ma.fields.Nested(TokenRefSchema, allow_none=True)
    pipes = ma.fields.List(ma.fields.String(), allow_none=True, metadata={
        "description": "the pipe patterns this credential reaches now; null: every pipe"})


UserListSchema = page_of(UserSchema, "UserListSchema")


class PageQuerySchema(StrictSchema):
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=1000))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=2**31 - 1))


class UserQuerySchema(PageQuerySchema):
    q = ma.fields.String(validate=[ma.validate.Length(min=1, max=60), storable_text],
                         metadata={"description": "text in the username (any case)"})


def user_out(row, scopes) -> dict:
    return {
        "id": str(row["id"]),
        "username": row["username"],
        "type": row["type"],
        "scopes": order(scopes),
        "created_at": AwareDateTime()._serialize(row["created_at"], None, None),
    }
