"""The shapes of the well-known documents and of /introspect and /revoke."""

from __future__ import annotations

import marshmallow as ma

TOKEN_TYPE_HINTS = ("access_token", "api_key")


class JwkSchema(ma.Schema):
    kty = ma.fields.String(required=True, metadata={"description": "OKP (Ed25519) or EC"})
    crv = ma.fields.String(required=True, metadata={"description": "Ed25519 or P-256"})
    x = ma.fields.String(required=True)
    y = ma.fields.String(metadata={"description": "EC keys only"})
    kid = ma.fields.String(required=True, metadata={"description": "RFC 7638 thumbprint"})
    alg = ma.fields.String(required=True, validate=ma.validate.OneOf(["EdDSA", "ES256"]))
    use = ma.fields.String(required=True, validate=ma.validate.Equal("sig"))


class JwksSchema(ma.Schema):
    keys = ma.fields.List(ma.fields.Nested(JwkSchema), required=True)


def _strings() -> ma.fields.List:
    return ma.fields.List(ma.fields.String(), required=True)


class MetadataSchema(ma.Schema):
    """RFC 8414 §2."""

    issuer = ma.fields.String(required=True)
    token_endpoint = ma.fields.String(required=True)
    jwks_uri = ma.fields.String(required=True)
    introspection_endpoint = ma.fields.String(required=True)
    revocation_endpoint = ma.fields.String(required=True)
    grant_types_supported = _strings()
    response_types_supported = _strings()
    scopes_supported = _strings()
    token_endpoint_auth_methods_supported = _strings()
    introspection_endpoint_auth_methods_supported = _strings()
    revocation_endpoint_auth_methods_supported = _strings()


class TokenFormSchema(ma.Schema):
    """RFC 7662 §2.1 and RFC 7009 §2.1; the client's ID and secret may come here or in Basic."""

    token = ma.fields.String(required=True)
    token_type_hint = ma.fields.String(validate=ma.validate.OneOf(TOKEN_TYPE_HINTS))
    client_id = ma.fields.String()
    client_secret = ma.fields.String()


class IntrospectionSchema(ma.Schema):
    """RFC 7662 §2.2: only `active` when the token is not active or not the caller's."""

    active = ma.fields.Boolean(required=True)
    scope = ma.fields.String()
    client_id = ma.fields.String(metadata={"description": "the token's id (client ID)"})
    sub = ma.fields.String(metadata={"description": "the owner's user id"})
    username = ma.fields.String()
    token_type = ma.fields.String(validate=ma.validate.OneOf(["bearer", "api_key"]))
    exp = ma.fields.Integer()
    iat = ma.fields.Integer()
    iss = ma.fields.String()
    aud = ma.fields.String()
    jti = ma.fields.String()
