"""An OpenAPI 3.1 document built from the routes' `@doc` annotations and marshmallow schemas."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import marshmallow as ma
from aiohttp import web

from service.auth.scopes import SCOPES, requirement_of
from service.validation import AwareDateTime

DOC_ATTR = "__mrsm_doc__"


@dataclass(frozen=True)
class Doc:
    summary: str
    tag: str
    body: type[ma.Schema] | ma.Schema | None = None
    form: type[ma.Schema] | None = None
    query: type[ma.Schema] | None = None
    responses: dict[int, Any] = field(default_factory=dict)
    body_content_type: str = "application/json"
    path_params: dict[str, dict] = field(default_factory=dict)


def doc(summary: str, *, tag: str, **kwargs: Any) -> Callable:
    """Describe a handler for /openapi.json. `responses` maps status -> schema (None = no body)."""
    info = Doc(summary=summary, tag=tag, **kwargs)

    def decorate(handler: Callable) -> Callable:
        setattr(handler, DOC_ATTR, info)
        return handler

    return decorate


class ErrorSchema(ma.Schema):
    error = ma.fields.String(required=True)
    error_description = ma.fields.String(required=True)
    fields = ma.fields.Dict()


_SIMPLE: dict[type, dict] = {
    ma.fields.UUID: {"type": "string", "format": "uuid"},
    AwareDateTime: {"type": "string", "format": "date-time"},
    ma.fields.DateTime: {"type": "string", "format": "date-time"},
    ma.fields.Email: {"type": "string", "format": "email"},
    ma.fields.String: {"type": "string"},
    ma.fields.Integer: {"type": "integer"},
    ma.fields.Float: {"type": "number"},
    ma.fields.Number: {"type": "number"},
    ma.fields.Boolean: {"type": "boolean"},
    ma.fields.Dict: {"type": "object"},
    ma.fields.Raw: {},
}


def _length(field_: ma.fields.Field, out: dict, kind: str) -> None:
    for validator in field_.validators:
        if isinstance(validator, ma.validate.Length):
            lo, hi = ("minLength", "maxLength") if kind == "string" else ("minItems", "maxItems")
            if validator.min is not None:
                out[lo] = validator.min
            if validator.max is not None:
                out[hi] = validator.max
            if validator.equal is not None:
                out[lo] = out[hi] = validator.equal
        elif isinstance(validator, ma.validate.Range):
            if validator.min is not None:
                out["minimum"] = validator.min
            if validator.max is not None:
                out["maximum"] = validator.max
        elif isinstance(validator, ma.validate.OneOf):
            out["enum"] = list(validator.choices)
        elif isinstance(validator, ma.validate.Regexp):
            out["pattern"] = validator.regex.pattern


def field_schema(field_: ma.fields.Field, components: dict) -> dict:
    if isinstance(field_, ma.fields.Nested):
        nested = field_.schema
        out: dict = {"$ref": schema_ref(nested, components)}
        if field_.many:
            out = {"type": "array", "items": out}
    elif isinstance(field_, ma.fields.List):
        out = {"type": "array", "items": field_schema(field_.inner, components)}
        _length(field_, out, "array")
    else:
        out = {}
        for kind, base in _SIMPLE.items():
            if isinstance(field_, kind):
                out = dict(base)
                break
        if out.get("type") == "string":
            _length(field_, out, "string")
        elif out.get("type") in {"integer", "number"}:
            _length(field_, out, "number")
        else:
            _length(field_, out, "other")
    if field_.allow_none and "$ref" not in out and "type" in out:
        out["type"] = [out["type"], "null"]
    elif field_.allow_none and "$ref" in out:
        out = {"anyOf": [out, {"type": "null"}]}
    description = field_.metadata.get("description")
    if description:
        out["description"] = description
    return out


def schema_name(schema: ma.Schema | type[ma.Schema]) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    return name[: -len("Schema")] if name.endswith("Schema") and name != "Schema" else name


def object_schema(schema: ma.Schema | type[ma.Schema], components: dict) -> dict:
    instance = schema() if isinstance(schema, type) else schema
    properties, required = {}, []
    for name, field_ in instance.fields.items():
        key = field_.data_key or name
        if field_.load_only and not instance.load_only:
            pass
        properties[key] = field_schema(field_, components)
        if field_.required:
            required.append(key)
    out: dict = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    unknown = getattr(getattr(instance, "Meta", None), "unknown", ma.RAISE)
    if unknown == ma.RAISE:
        out["additionalProperties"] = False
    return out


def schema_ref(schema: ma.Schema | type[ma.Schema], components: dict) -> str:
    name = schema_name(schema)
    if name not in components:
        components[name] = {}  # placeholder first: guards recursion
        components[name] = object_schema(schema, components)
    return f"#/components/schemas/{name}"


def _content(schema: Any, components: dict, content_type: str = "application/json") -> dict:
    if isinstance(schema, dict):
        return {content_type: {"schema": schema}}
    many = isinstance(schema, ma.Schema) and schema.many
    ref: dict = {"$ref": schema_ref(schema, components)}
    return {content_type: {"schema": {"type": "array", "items": ref} if many else ref}}


def _media(content_types: str | tuple[str, ...], schema: dict) -> dict:
    """`(content type or tuple of them, schema)`: a body that is not JSON, e.g. text or CSS."""
    if isinstance(content_types, str):
        content_types = (content_types,)
    return {content_type: {"schema": schema} for content_type in content_types}


_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")


def build(app: web.Application, *, title: str, version: str) -> dict:
    components: dict = {}
    paths: dict = {}
    error_ref = {"$ref": schema_ref(ErrorSchema, components)}
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info: Doc | None = getattr(route.handler, DOC_ATTR, None)
        if info is None:
            continue
        path = _PARAM.sub(r"{\1}", route.resource.canonical)
        operation: dict = {"summary": info.summary, "tags": [info.tag],
                           "operationId": route.handler.__name__}
        params = [
            {"name": name, "in": "path", "required": True,
             "schema": info.path_params.get(name, {"type": "string"})}
            for name in _PARAM.findall(route.resource.canonical)
        ]
        if info.query is not None:
            for name, field_ in info.query().fields.items():
                params.append({"name": field_.data_key or name, "in": "query",
                               "required": field_.required,
                               "schema": field_schema(field_, components)})
        if params:
            operation["parameters"] = params
        if info.body is not None:
            operation["requestBody"] = {"required": True,
                                        "content": _content(info.body, components,
                                                            info.body_content_type)}
        if info.form is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/x-www-form-urlencoded": {
                    "schema": object_schema(info.form, components)}},
            }
        responses: dict = {}
        for status, schema in info.responses.items():
            entry: dict = {"description": _STATUS_TEXT.get(status, "Response")}
            if schema is not None:
                entry["content"] = (_content(schema, components) if not isinstance(schema, tuple)
                                    else _media(*schema))
            responses[str(status)] = entry
        responses["default"] = {"description": "An error",
                                "content": {"application/json": {"schema": error_ref}}}
        operation["responses"] = responses
        requirement = requirement_of(route.handler)
        if requirement is not None and not requirement.public:
            scopes = sorted(requirement.scopes)
            operation["security"] = [{"bearer": scopes}, {"apiKey": scopes}]
        else:
            operation["security"] = []
        paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                           "description": "A JWT from POST /login."},
                "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                           "description": "The raw API key, 'mrsm-key:...'."},
            },
        },
        "x-scopes": SCOPES,
    }


_STATUS_TEXT = {200: "OK", 201: "Created", 204: "No content", 302: "Redirect",
                400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
                409: "Conflict", 422: "Validation error"}
