"""POST /login: the OAuth 2.0 token endpoint."""
