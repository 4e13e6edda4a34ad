"""`User`: a user account on an instance, as the seed's `meerschaum.core.User`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.sdk.base import BaseConnector, InstanceError, run
from service.sdk.config import get_connector


class User:
    """A user, by name. `register()`, `edit()` and `delete()` return `(success, message)`.

    The password is only sent by `register()`, and by `edit()` when it was set anew;
    it is never shown by `repr`.
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
        # The instance's copy of type and scopes, so that edit() sends only what changed,
        # and the password last sent, so that edit() does not send it again.
        self._saved: dict[str, Any] | None = None
        self._password_sent: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], instance: str | BaseConnector) -> User:
        created = data.get("created_at")
        user = cls(data["username"], type=data.get("type"), scopes=data.get("scopes"),
                   instance=instance, id=data.get("id"),
                   created_at=datetime.fromisoformat(created) if created else None)
        user._saved = {"type": user.type, "scopes": user.scopes}
        return user

    def _load(self, out: dict[str, Any]) -> None:
        self.id, self.type, self.scopes = out["id"], out["type"], list(out["scopes"])
        self.created_at = datetime.fromisoformat(out["created_at"])
        self._saved = {"type": self.type, "scopes": list(self.scopes)}

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
        self._load(out)
        self._password_sent = self.password
        return True, f"Registered user '{self.username}'."

    def edit(self) -> tuple[bool, str]:
        """Save changes to `type`, `scopes` and `password` (an admin's job on `api:`
        instances; the operator's on `sql:`, e.g. to give a lost admin password anew).

        The instance's rules apply: the last admin stays one, admin-only scopes are for
        admins, and a demotion drops them."""
        saved = self._saved or {}
        changes: dict[str, Any] = {}
        if self.type is not None and self.type != saved.get("type"):
            changes["type"] = self.type
        if self.scopes is not None and (saved.get("scopes") is None
                                        or set(self.scopes) != set(saved["scopes"])):
            changes["scopes"] = list(self.scopes)
        if self.password and self.password != self._password_sent:
            changes["password"] = self.password
        if not changes:
            return True, f"User '{self.username}' is unchanged."
        try:
            out = run(self.instance_connector.aedit_user(self.username, changes))
        except InstanceError as err:
            return False, str(err)
        self._load(out)
        self._password_sent = self.password
        return True, f"Edited user '{self.username}'."

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
