"""`Connector`: an instance with the seed's synchronous methods, which return objects.

`api:` and `sql:` connectors are made from this class; it sits above `Token` and
`User`, which find their instance with `get_connector`, so that imports point one way:
base → config → user → token → pipe → connector → api, sql.
"""

from __future__ import annotations

import itertools
from datetime import datetime

from service.sdk.base import BaseConnector, run
from service.sdk.pipe import Pipe
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

    def introspect(self, token: str) -> dict:
        """Whether a JWT or API key is active, and what it may do (RFC 7662's answer):
        `{"active": False}` for anything expired, revoked, unknown or not yours to see."""
        return run(self.aintrospect(str(token)))

    def get_users(self) -> list[User]:
        return [User.from_dict(item, instance=self) for item in run(self.alist_users())]

    def get_pipes(self, connector_keys: str | list[str] | None = None,
                  metric_key: str | list[str] | None = None,
                  location_key: str | list[str] | None = None) -> list[Pipe]:
        """The pipes whose keys match every filter given (a key, or a list of keys any of
        which matches; location '-' for pipes without one), ordered by their keys."""
        choices = [[None] if value is None else [value] if isinstance(value, str)
                   else list(value) for value in (connector_keys, metric_key, location_key)]
        found: dict[tuple, dict] = {}
        for ck, mk, lk in itertools.product(*choices):
            filters = {name: value for name, value in (
                ("connector_keys", ck), ("metric_key", mk), ("location_key", lk))
                if value is not None}
            for item in run(self.alist_pipes(**filters)):
                found[(item["connector_keys"], item["metric_key"],
                       item["location_key"] or "")] = item
        return [Pipe.from_dict(found[key], instance=self) for key in sorted(found)]
