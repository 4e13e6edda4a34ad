"""The OAuth2 authorization server around /login: its metadata, JWKS, introspection, revocation."""
