"""The answers to a credential that is missing, bad, or not enough (RFC 6750 §3.1): the
front gives them for every protected route, and ops for a rule a scope cannot express."""

from __future__ import annotations

from service.auth.scopes import order
from service.errors import ApiError

REALM = "mrsm"


def missing_credential() -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        "This route needs a credential: send 'Authorization: Bearer <access token>' "
        "or 'Authorization: <API key>'.",
        headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
    )


def invalid_credential() -> ApiError:
    # One body for every kind of bad credential: nobody learns which part was wrong.
    return ApiError(
        401,
        "invalid_token",
        "The credential is invalid, expired or revoked.",
        headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token"'},
    )


def insufficient_scope(needed: frozenset[str], description: str | None = None) -> ApiError:
    """403: a valid credential that may not do this; `needed` are the scopes it lacks
    (none when no scope would do, `description` then says what would)."""
    wanted = " ".join(order(needed))
    challenge = f'Bearer realm="{REALM}", error="insufficient_scope"'
    if wanted:
        challenge += f', scope="{wanted}"'
    return ApiError(
        403,
        "insufficient_scope",
        description or f"This credential lacks the scope this route needs: {wanted}.",
        headers={"WWW-Authenticate": challenge},
    )
