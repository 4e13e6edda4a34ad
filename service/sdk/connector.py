"""`Connector`: an instance with the seed's synchronous methods, which return objects.

`api:` and `sql:` connectors are made from this class; it sits above `Token` and
`User`, which find their instance with `get_connector`, so that imports point one way:
base → config → user → token → connector → api, sql.
"""

from __future__ import annotations

from datetime import datetime

from service.sdk.base import BaseConnector, run
from service.sdk.token import Token, _aware, _iso
from service.sdk.user import User


class Connector(BaseConnector):
    """An instance: where tokens and users live (`sql:LABEL` or `api:LABEL`)."""

    def get_tokens(self, user: User | str | None = None, *,
                   expires_before: datetime | None = None) -> list[Token]:
        """The tokens of `user`; with no user, every token an admin may see (ownerless
        ones included), or only the connector user's own for a regular user. With
        `expires_before`, only the valid tokens that expire before then."""
        name = None if user is None else str(user)
        before = _iso(_aware(expires_before)) if expires_before is not None else None
        return [Token.from_dict(item, instance=self)
                for item in run(self.alist_tokens(name, expires_before=before))]

    def get_token(self, token_id: str) -> Token:
        """One token by its Client ID or a unique prefix of it (8 characters at least);
        raises InstanceError when there is none, or when the prefix names several."""
        full = run(self.aresolve_token_id(str(token_id)))
        return Token.from_dict(run(self.aget_token(full)), instance=self)

    def get_users(self) -> list[User]:
        return [User.from_dict(item, instance=self) for item in run(self.alist_users())]
