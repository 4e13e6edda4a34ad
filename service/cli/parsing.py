"""Turning what a person types into the values the API takes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from service.cli.prompts import CliError
from service.tokens.schemas import pipe_pattern_error

_DAYS = re.compile(r"^(\d+)\s*d?$", re.IGNORECASE)
NEVER = {"none", "never"}


def parse_expiration(text: str, *, now: datetime | None = None) -> tuple[bool, datetime | None]:
    """(given, value): blank is not given (the default); none/never is (True, None).

    Accepts an ISO 8601 date or date and time (no offset means UTC) or a number of
    days from now: `30` or `30d`.
    """
    text = text.strip()
    if not text:
        return False, None
    if text.lower() in NEVER:
        return True, None
    match = _DAYS.match(text)
    if match:
        return True, (now or datetime.now(UTC)) + timedelta(days=int(match.group(1)))
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"Not an expiration: {text!r} (use a date like 2027-01-31, a number of "
                       "days like 30d, or none).") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return True, value.astimezone(UTC)


def parse_scopes(text: str | None, known: list[str] | None = None) -> list[str] | None:
    """Space- or comma-separated scopes; blank is None (all the owner's)."""
    if text is None:
        return None
    scopes = [s for s in re.split(r"[\s,]+", text.strip()) if s]
    if not scopes:
        return None
    if known is not None:
        unknown = [s for s in scopes if s not in known]
        if unknown:
            raise CliError(f"Unknown scope(s): {' '.join(unknown)} (known: {' '.join(known)}).")
    return list(dict.fromkeys(scopes))


ALL_PIPES = "all"


def parse_pipes(values: str | list[str] | None) -> tuple[bool, list[str] | None]:
    """(given, patterns) from --pipes (repeatable, each comma- or space-separated) or a
    prompt's answer: nothing or blank is not given; `all` is (True, None), every pipe."""
    if values is None:
        return False, None
    if isinstance(values, str):
        values = [values]
    patterns = [p for value in values for p in re.split(r"[\s,]+", value.strip()) if p]
    if not patterns:
        return False, None
    if ALL_PIPES in patterns:
        if len(patterns) > 1:
            raise CliError("'all' means every pipe: give it alone, or patterns.")
        return True, None
    bad = [err for p in patterns if (err := pipe_pattern_error(p))]
    if bad:
        raise CliError(bad[0][0].upper() + bad[0][1:] + ".")
    return True, list(dict.fromkeys(patterns))


def pipes_text(pipes: list[str] | None) -> str:
    return ", ".join(pipes) if pipes is not None else "all"


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def expiration_from_flags(expires: str | None,
                          ttl_days: int | None) -> tuple[bool, datetime | None]:
    """--expires or --ttl-days (not both); (False, None) when neither is given."""
    if expires is not None and ttl_days is not None:
        raise CliError("Give --expires or --ttl-days, not both.")
    if ttl_days is not None:
        if ttl_days < 1:
            raise CliError("--ttl-days must be at least 1 (or use --expires none).")
        return True, datetime.now(UTC) + timedelta(days=ttl_days)
    if expires is not None:
        if not expires.strip():
            raise CliError("--expires is empty (use a date, a number of days, or none).")
        return parse_expiration(expires)
    return False, None
