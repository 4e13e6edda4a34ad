"""The scope catalogue and the route annotations the front (service.front) enforces.

A handler declares what it needs with one of three decorators; each only sets an
attribute that the middleware reads. A handler with no annotation is refused
(deny by default), and a test walks the router to prove every route has one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

SCOPES: dict[str, str] = {
    "read:pipes": "Read pipes and their rows.",
    "write:pipes": "Register pipes, change their parameters and write rows.",
    "delete:pipes": "Delete pipes and ranges of their rows.",
    "read:tokens": "List and read your tokens (an admin: every token).",
    "write:tokens": "Register, edit, invalidate and delete your tokens (an admin: every token).",
    "read:users": "List users and read their audit events (admins only).",
    "write:users": "Register, change and delete users (admins only).",
}
ALL_SCOPES: frozenset[str] = frozenset(SCOPES)
ADMIN_ONLY_SCOPES: frozenset[str] = frozenset({"read:users", "write:users"})
DEFAULT_USER_SCOPES: tuple[str, ...] = (
    "read:pipes",
    "write:pipes",
    "delete:pipes",
    "read:tokens",
    "write:tokens",
)

AUTH_ATTR = "__mrsm_auth__"


@dataclass(frozen=True)
class Requirement:
    """What a route needs: nothing (public), any caller, or every scope listed."""

    public: bool = False
    scopes: frozenset[str] = frozenset()


F = TypeVar("F", bound=Callable)


def _annotate(requirement: Requirement) -> Callable[[F], F]:
    def decorate(handler: F) -> F:
        setattr(handler, AUTH_ATTR, requirement)
        return handler

    return decorate


def public(handler: F) -> F:
    """No credential needed; any credential sent is ignored."""
    return _annotate(Requirement(public=True))(handler)


def authenticated(handler: F) -> F:
    """Any valid credential, whatever its scopes."""
    return _annotate(Requirement())(handler)


def requires(*scopes: str) -> Callable[[F], F]:
    """A valid credential holding every one of `scopes`."""
    unknown = set(scopes) - ALL_SCOPES
    if unknown or not scopes:
        raise ValueError(f"unknown or missing scopes: {sorted(unknown)}")
    return _annotate(Requirement(scopes=frozenset(scopes)))


def requirement_of(handler: object) -> Requirement | None:
    return getattr(handler, AUTH_ATTR, None)


def order(scopes: Iterable[str]) -> list[str]:
    """Scopes in catalogue order, for stable output."""
    wanted = set(scopes)
    return [name for name in SCOPES if name in wanted]
