"""`Token`: one API token on an instance, as the seed's `meerschaum.core.Token`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from service.auth.apikeys import make_api_key
from service.sdk.base import BaseConnector, InstanceError, run
from service.sdk.config import get_connector
from service.sdk.user import User

_DEFAULT = object()  # "no expiration given": the instance's default applies


def _aware(value: Any) -> datetime | None:
    """An aware datetime in UTC; a naive one is taken as UTC, like the HTTP API does."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expiration must be a datetime or None, not {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


class Token:
    """A token: label, owner, expiration, scopes, pipes; a secret only right after
    `register()`.

    `pipes`: the pipes it may reach, as patterns like ``"mqtt:garden/*/*"`` (None: every
    pipe; not given: the instance's default, every pipe the credential making it reaches).

    `register()`, `edit()`, `invalidate()` and `delete()` return `(success, message)`
    and do not raise for a refusal or an unreachable instance.
    """

    def __init__(self, label: str | None = None, user: User | str | None = None,
                 instance: str | BaseConnector | None = None, expiration: Any = _DEFAULT,
                 scopes: list[str] | None = None, *, id: str | uuid.UUID | None = None,
                 secret: str | None = None, pipes: Any = _DEFAULT) -> None:
        if instance is None:
            instance = user.instance_connector if isinstance(user, User) else "sql:main"
        self.instance_connector = get_connector(instance)
        if isinstance(user, str):
            user = User(user, instance=self.instance_connector)
        self.user: User | None = user
        self.label = label
        self._expiration: datetime | None = None
        self._expiration_given = False
        if expiration is not _DEFAULT:
            self.expiration = expiration
        self.scopes = scopes
        self._pipes: list[str] | None = None
        self._pipes_given = False
        if pipes is not _DEFAULT:
            self.pipes = pipes
        self.id = uuid.UUID(str(id)) if id is not None else None
        self.secret = secret
        self.created_at: datetime | None = None
        self.invalidated_at: datetime | None = None
        self.last_used_at: datetime | None = None
        self.is_valid: bool | None = None
        self.invalidated_reason: str | None = None
        self.previous_secret_expires_at: datetime | None = None
        self.recent_sources: list[dict[str, Any]] = []
        self._saved: dict[str, Any] | None = None  # the instance's copy, to find edits

    @property
    def expiration(self) -> datetime | None:
        """When the token stops working (aware, UTC); None: never (or not yet chosen)."""
        return self._expiration

    @expiration.setter
    def expiration(self, value: datetime | None) -> None:
        self._expiration = _aware(value)
        self._expiration_given = True

    @property
    def scopes(self) -> list[str] | None:
        """What the token may do; None (before register): all the owner's."""
        return self._scopes

    @scopes.setter
    def scopes(self, value: list[str] | str | None) -> None:
        if isinstance(value, str):  # 'read:pipes write:pipes', as the CLI takes them
            value = value.replace(",", " ").split()
        self._scopes = list(value) if value is not None else None

    @property
    def pipes(self) -> list[str] | None:
        """The pipe patterns it may reach; None: every pipe (or not yet chosen)."""
        return self._pipes

    @pipes.setter
    def pipes(self, value: list[str] | str | None) -> None:
        if isinstance(value, str):  # 'mqtt:garden/*/*, dev:1/*/-', as the CLI takes them
            value = value.replace(",", " ").split()
        self._pipes = list(value) if value is not None else None
        self._pipes_given = True

    @classmethod
    def from_dict(cls, data: dict[str, Any], instance: str | BaseConnector) -> Token:
        """A token from the HTTP API's JSON shape."""
        token = cls(instance=instance)
        token._load(data)
        return token

    def _load(self, data: dict[str, Any]) -> None:
        self.id = uuid.UUID(data["id"])
        self.label = data["label"]
        self.user = (User(data["user"], instance=self.instance_connector)
                     if data.get("user") else None)
        self.scopes = list(data["scopes"])
        self._expiration = _aware(data.get("expiration"))
        self._expiration_given = True
        self.created_at = _aware(data.get("created_at"))
        self.invalidated_at = _aware(data.get("invalidated_at"))
        self.last_used_at = _aware(data.get("last_used_at"))
        self.is_valid = data.get("is_valid")
        self._pipes = list(data["pipes"]) if data.get("pipes") is not None else None
        self._pipes_given = True
        self.invalidated_reason = data.get("invalidated_reason")
        self.previous_secret_expires_at = _aware(data.get("previous_secret_expires_at"))
        self.recent_sources = [{"address": s["address"],
                                "last_seen_at": _aware(s["last_seen_at"])}
                               for s in data.get("recent_sources") or ()]
        self._saved = {"label": self.label, "expiration": self._expiration,
                       "scopes": set(self.scopes), "pipes": self._pipes}

    def to_dict(self) -> dict[str, Any]:
        """The HTTP API's JSON shape (never the secret)."""
        return {"id": str(self.id) if self.id else None, "label": self.label,
                "user": self.user.username if self.user else None, "scopes": self.scopes,
                "expiration": _iso(self.expiration), "created_at": _iso(self.created_at),
                "is_valid": self.is_valid, "invalidated_at": _iso(self.invalidated_at),
                "last_used_at": _iso(self.last_used_at), "pipes": self.pipes}

    def __str__(self) -> str:
        state = {True: "valid", False: "not valid", None: "not registered"}[self.is_valid]
        if self.invalidated_at is not None:
            state = "invalidated"
        expires = (f"expires {self.expiration:%Y-%m-%d %H:%M} UTC" if self.expiration
                   else "never expires" if self._expiration_given else "default expiration")
        scopes = " ".join(self.scopes) if self.scopes is not None else "all of the owner's"
        # Only a bound token says so: every other reaches every pipe, as tokens always did.
        pipes = f"pipes: {', '.join(self.pipes)}; " if self.pipes is not None else ""
        return (f"Token '{self.label}' ({self.id or 'no ID yet'}), user "
                f"{self.user or '(none)'}, scopes: {scopes}; {pipes}{expires}; {state}")

    def __repr__(self) -> str:
        return (f"Token(id={str(self.id) if self.id else None!r}, label={self.label!r}, "
                f"user={str(self.user) if self.user else None!r}, scopes={self.scopes!r}, "
                f"pipes={self.pipes!r}, "
                f"expiration={_iso(self.expiration)!r}, is_valid={self.is_valid!r}, "
                f"instance={self.instance_connector.keys!r})")

    def get_api_key(self) -> str:
        """`mrsm-key:...` for the Authorization header; only known right after register()."""
        if self.id is None or not self.secret:
            raise ValueError("The API key is only available right after register(): "
                             "the secret is not stored anywhere.")
        return make_api_key(self.id, self.secret)

    def register(self) -> tuple[bool, str]:
        """Create the token; sets `id`, `secret` and the instance's choices."""
        if self._saved is not None:
            return False, f"Token '{self.label}' is already registered ({self.id})."
        body: dict[str, Any] = {}
        if self.label is not None:
            body["label"] = self.label
        if self._expiration_given:
            body["expiration"] = _iso(self._expiration)
        if self.scopes is not None:
            body["scopes"] = list(self.scopes)
        if self._pipes_given:
            body["pipes"] = self._pipes
        if self.user is not None:
            body["user"] = self.user.username
        try:
            out = run(self.instance_connector.acreate_token(body))
        except InstanceError as err:
            return False, str(err)
        self._load(out)
        self.secret = out["secret"]
        return True, f"Registered token '{self.label}' ({self.id})."

    def edit(self) -> tuple[bool, str]:
        """Save changes to `label`, `expiration`, `scopes` and `pipes`."""
        if self._saved is None:
            return False, "This token is not registered yet: call register() first."
        changes: dict[str, Any] = {}
        if self.label != self._saved["label"]:
            changes["label"] = self.label
        if self._expiration != self._saved["expiration"]:
            changes["expiration"] = _iso(self._expiration)
        if self.scopes is not None and set(self.scopes) != self._saved["scopes"]:
            changes["scopes"] = list(self.scopes)
        if self._pipes != self._saved["pipes"]:
            changes["pipes"] = self._pipes
        if not changes:
            return True, f"Token '{self.label}' is unchanged."
        return self._call("Edited", self.instance_connector.aedit_token(str(self.id), changes))

    def invalidate(self) -> tuple[bool, str]:
        """Stop the token working, for good; it stays listed."""
        if self.id is None:
            return False, "This token is not registered yet."
        return self._call("Invalidated", self.instance_connector.ainvalidate_token(str(self.id)))

    def rotate(self, overlap: timedelta = timedelta(hours=1)) -> tuple[bool, str]:
        """A new secret (set on `secret`, so `get_api_key()` works); the previous one keeps
        working for `overlap` (at most 30 days; zero ends it, and the JWTs issued before,
        at once)."""
        if self.id is None:
            return False, "This token is not registered yet."
        if not isinstance(overlap, timedelta):
            return False, f"overlap must be a timedelta, not {type(overlap).__name__}."
        seconds = overlap.total_seconds()
        if seconds != int(seconds):
            return False, "overlap must be a whole number of seconds."
        try:
            out = run(self.instance_connector.arotate_token(str(self.id), int(seconds)))
        except InstanceError as err:
            return False, str(err)
        self._load(out)
        self.secret = out["secret"]
        until = (f"; the previous secret works until {_iso(self.previous_secret_expires_at)}"
                 if self.previous_secret_expires_at else "; the previous secret no longer works")
        return True, f"Rotated token '{self.label}' ({self.id}){until}."

    def delete(self) -> tuple[bool, str]:
        """Remove the token permanently."""
        if self.id is None:
            return False, "This token is not registered yet."
        ok, msg = self._call("Deleted", self.instance_connector.adelete_token(str(self.id)))
        if ok:
            self._saved, self.is_valid = None, False
        return ok, msg

    def _call(self, done: str, coro) -> tuple[bool, str]:
        try:
            out = run(coro)
        except InstanceError as err:
            return False, str(err)
        if out is not None:
            self._load(out)
        return True, f"{done} token '{self.label}' ({self.id})."
