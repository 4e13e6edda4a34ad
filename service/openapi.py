"""An OpenAPI 3.1.0 document built from the routes' `@doc` annotations and marshmallow schemas.

apispec's MarshmallowPlugin turns the schemas into JSON Schema; this module only walks the
aiohttp routes and maps each route's security. 3.1.0 rather than 3.0.3: apispec emits 3.1
shapes (a nullable field is a type list with "null", a nullable reference an `anyOf` with
`{"type": "null"}`), and some routes give raw schemas already written that way.

Who may call a route is not this module's business: `build` is handed the scope catalogue
and a `security_of(handler)` function, so the document stays below the auth package.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import marshmallow as ma
from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

OPENAPI_VERSION = "3.1.0"
DOC_ATTR = "__mrsm_doc__"


@dataclass(frozen=True)
class Doc:
    summary: str
    tag: str
    body: type[ma.Schema] | ma.Schema | dict | None = None
    form: type[ma.Schema] | None = None
    query: type[ma.Schema] | None = None
    responses: dict[int, Any] = field(default_factory=dict)
    body_content_type: str = "application/json"
    body_required: bool = True
    path_params: dict[str, dict] = field(default_factory=dict)
    # status -> {header name: {"description", "schema", "required"}}
    headers: dict[int, dict[str, dict]] = field(default_factory=dict)
    # Whether its answers carry the credential's headers (build's `credential_headers`)
    # although anyone may call it (/login with a token's client credentials).
    credential_headers: bool = False


def doc(summary: str, *, tag: str, **kwargs: Any) -> Callable:
    """Describe a handler for /openapi.json. `responses` maps status -> a schema, a raw JSON
    Schema dict, `(content type or tuple of them, raw schema)` for a body that is not JSON
    (text, CSS), or None for no body."""
    info = Doc(summary=summary, tag=tag, **kwargs)

    def decorate(handler: Callable) -> Callable:
        setattr(handler, DOC_ATTR, info)
        return handler

    return decorate


class ErrorSchema(ma.Schema):
    error = ma.fields.String(required=True)
    error_description = ma.fields.String(required=True)
    fields = ma.fields.Dict()


SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
               "description": "A JWT from POST /login."},
    "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
               "description": "The raw API key, 'mrsm-key:...'."},
}
_STATUS_TEXT = {200: "OK", 201: "Created", 204: "No content", 302: "Redirect",
                400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
                409: "Conflict", 422: "Validation error", 202: "Accepted",
                429: "Too many requests"}
# aiohttp's `{name}` and `{name:regex}` both become OpenAPI's `{name}`.
_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")


def _map_our_fields(plugin: MarshmallowPlugin) -> None:
    """Give each of the service's own fields (AwareDateTime, CidrList, ...) the OpenAPI type
    and format of the marshmallow field it extends. They are found by walking the subclasses,
    not imported, so that this module depends on no feature package."""
    mapping = plugin.converter.field_mapping
    pending = list(ma.fields.Field.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("service.") and cls not in mapping:
            plugin.map_to_openapi_type(cls, next(b for b in cls.__mro__ if b in mapping))


def _media(content_types: str | tuple[str, ...], schema: dict) -> dict:
    if isinstance(content_types, str):
        content_types = (content_types,)
    return {content_type: {"schema": schema} for content_type in content_types}


def _response(status: int, schema: Any) -> dict:
    out: dict = {"description": _STATUS_TEXT.get(status, "Response")}
    if isinstance(schema, tuple):
        out["content"] = _media(*schema)
    elif schema is not None:  # a marshmallow schema (the plugin resolves it) or a raw dict
        out["content"] = {"application/json": {"schema": schema}}
    return out


def _operation(route: web.AbstractRoute, info: Doc,
               security_of: Callable[[Callable], frozenset[str] | None],
               credential_headers: dict[str, dict]) -> dict:
    operation: dict = {"summary": info.summary, "tags": [info.tag],
                       "operationId": route.handler.__name__}
    params: list[dict] = [
        {"name": name, "in": "path", "required": True,
         "schema": info.path_params.get(name, {"type": "string"})}
        for name in _PARAM.findall(route.resource.canonical)
    ]
    if info.query is not None:
        params.append({"in": "query", "schema": info.query})  # one parameter per field
    if params:
        operation["parameters"] = params
    if info.body is not None:
        operation["requestBody"] = {
            "required": info.body_required,
            "content": {info.body_content_type: {"schema": info.body}}}
    if info.form is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": info.form}}}
    responses = {str(status): _response(status, schema)
                 for status, schema in info.responses.items()}
    for status, headers in info.headers.items():
        responses[str(status)]["headers"] = headers
    operation["responses"] = {
        **responses,
        "default": {"description": "An error",
                    "content": {"application/json": {"schema": ErrorSchema}}},
    }
    scopes = security_of(route.handler)
    if scopes is not None or info.credential_headers:
        refs = {name: {"$ref": f"#/components/headers/{name}"} for name in credential_headers}
        for response in operation["responses"].values():
            response["headers"] = {**refs, **response.get("headers", {})}
    operation["security"] = ([] if scopes is None else
                             [{"bearer": sorted(scopes)}, {"apiKey": sorted(scopes)}])
    return operation


def build(app: web.Application, *, title: str, version: str, scopes: dict[str, str],
          security_of: Callable[[Callable], frozenset[str] | None],
          credential_headers: dict[str, dict] | None = None) -> dict:
    """The document for every `@doc`-annotated route of `app`. `security_of(handler)` is None
    for a route anyone may call, else the scopes it needs (empty: any valid credential).
    `credential_headers` (name -> header object) are declared on every answer of a route
    that takes a credential."""
    credential_headers = credential_headers or {}
    # The plugin's default name resolver already drops the "Schema" suffix: FooSchema -> Foo.
    plugin = MarshmallowPlugin()
    spec = APISpec(title=title, version=version, openapi_version=OPENAPI_VERSION,
                   plugins=[plugin], **{"x-scopes": scopes})
    _map_our_fields(plugin)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    for name, header in credential_headers.items():
        spec.components.header(name, header)
    for route in app.router.routes():
        info: Doc | None = getattr(route.handler, DOC_ATTR, None)
        if route.method == "HEAD" or info is None:
            continue
        spec.path(path=_PARAM.sub(r"{\1}", route.resource.canonical),
                  operations={route.method.lower(): _operation(route, info, security_of,
                                                               credential_headers)})
    return spec.to_dict()
