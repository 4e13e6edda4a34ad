"""`Connector`: an instance with the seed's synchronous methods, which return objects.

`api:` and `sql:` connectors are made from this class; it sits above `Token` and
`User`, which find their instance with `get_connector`, so that imports point one way:
base → config → user → token → connector → api, sql.
"""

from __future__ import annotations

from service.sdk.base import BaseConnector, run
from service.sdk.token import Token
from service.sdk.user import User


class Connector(BaseConnector):
    """An instance: where tokens and users live (`sql:LABEL` or `api:LABEL`)."""

    def get_tokens(self, user: User | str | None = None) -> list[Token]:
        """The tokens of `user`; with no user, every token an admin may see (ownerless
        ones included), or only the connector user's own for a regular user."""
        name = None if user is None else str(user)
        return [Token.from_dict(item, instance=self) for item in run(self.alist_tokens(name))]

    def get_token(self, token_id: str) -> Token:
        """One token by its Client ID or a unique prefix of it (8 characters at least);
        raises InstanceError when there is none, or when the prefix names several."""
        full = run(self.aresolve_token_id(str(token_id)))
        return Token.from_dict(run(self.aget_token(full)), instance=self)

    def introspect(self, token: str) -> dict:
        """Whether a JWT or API key is active, and what it may do (RFC 7662's answer):
        `{"active": False}` for anything expired, revoked, unknown or not yours to see."""
        return run(self.aintrospect(str(token)))

    def get_users(self) -> list[User]:
        return [User.from_dict(item, instance=self) for item in run(self.alist_users())]
