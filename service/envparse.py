"""Reading settings out of the environment: the one integer parser every settings class uses."""

from __future__ import annotations

from collections.abc import Mapping


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


def env_int(env: Mapping[str, str], name: str, default: int | None, *, minimum: int = 0,
            maximum: int | None = None) -> int | None:
    """`name` as an integer within [minimum, maximum], or `default` when unset or blank."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value
