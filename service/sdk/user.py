"""`User`: a user account on an instance, as the seed's `meerschaum.core.User`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.sdk.base import BaseConnector, InstanceError, run
from service.sdk.config import get_connector


class User:
    """A user, by name. `register()` and `delete()` return `(success, message)`.

    The password is only sent by `register()`; it is never shown by `repr`.
    """

    def __init__(self, username: str, password: str | None = None, type: str | None = None,
                 scopes: list[str] | None = None, instance: str | BaseConnector | None = None, *,
                 id: str | None = None, created_at: datetime | None = None) -> None:
        self.username = str(username)
        self.password = password
        self.type = type
        self.scopes = list(scopes) if scopes is not None else None
        self.instance_connector = get_connector(instance or "sql:main")
        self.id = id
        self.created_at = created_at

    @classmethod
    def from_dict(cls, data: dict[str, Any], instance: str | BaseConnector) -> User:
        created = data.get("created_at")
        return cls(data["username"], type=data.get("type"), scopes=data.get("scopes"),
                   instance=instance, id=data.get("id"),
                   created_at=datetime.fromisoformat(created) if created else None)

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"User({self.username!r}, instance={self.instance_connector.keys!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, User):
            return NotImplemented
        return (self.username.lower() == other.username.lower()
                and self.instance_connector.keys == other.instance_connector.keys)

    def __hash__(self) -> int:
        return hash((self.username.lower(), self.instance_connector.keys))

    def register(self) -> tuple[bool, str]:
        """Create the user on the instance (an admin's job on `api:` instances)."""
        if not self.password:
            return False, f"Give user '{self.username}' a password before registering it."
        body: dict[str, Any] = {"username": self.username, "password": self.password}
        if self.type:
            body["type"] = self.type
        if self.scopes is not None:
            body["scopes"] = self.scopes
        try:
            out = run(self.instance_connector.acreate_user(body))
        except InstanceError as err:
            return False, str(err)
        self.id, self.type, self.scopes = out["id"], out["type"], out["scopes"]
        self.created_at = datetime.fromisoformat(out["created_at"])
        return True, f"Registered user '{self.username}'."

    def delete(self) -> tuple[bool, str]:
        """Delete the user; their tokens are invalidated and kept without an owner."""
        try:
            run(self.instance_connector.adelete_user(self.username))
        except InstanceError as err:
            return False, str(err)
        return True, f"Deleted user '{self.username}'."

    def get_tokens(self) -> list:
        """This user's tokens, `Token` objects (`instance_connector.get_tokens(user=self)`;
        not annotated with `Token`, which is above this module)."""
        return self.instance_connector.get_tokens(user=self)
