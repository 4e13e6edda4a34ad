"""Finding an instance by its keys (`sql:main`, `api:main`) and its settings.

Settings come, field by field, from keyword arguments, then the environment,
then the config file: `$MRSM_CONFIG`, else `$XDG_CONFIG_HOME/mrsm-tokens/config.toml`,
else `~/.config/mrsm-tokens/config.toml`. The file is TOML, one table per instance:

    [api.main]
    url = "http://127.0.0.1:8000"
    username = "alice"          # with password; or api_key; or client_id + client_secret
    password = "..."

    [sql.reporting]
    database_url = "postgresql://user@host:5432/db"

`get_connector` makes the class registered for the type (`@connector_type`, which
`service.sdk.api` and `service.sdk.sql` use; `service.sdk` imports both). The
connectors are above `Token` and `User`, which call `get_connector`, so this module
cannot import them.
"""

from __future__ import annotations

import os
import threading
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from service.sdk.base import BaseConnector, InstanceError, shutdown

TYPES = ("sql", "api")
_CLASSES: dict[str, type[BaseConnector]] = {}
_CONNECTORS: dict[str, BaseConnector] = {}
_LOCK = threading.Lock()
C = TypeVar("C", bound=type[BaseConnector])


def connector_type(cls: C) -> C:
    """Class decorator: `get_connector('<cls.type>:LABEL')` makes a `cls`."""
    _CLASSES[cls.type] = cls
    return cls


def config_path() -> Path:
    if os.environ.get("MRSM_CONFIG"):
        return Path(os.environ["MRSM_CONFIG"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mrsm-tokens" / "config.toml"


def instance_config(type_: str, label: str) -> dict[str, Any]:
    """The config file's table for `type_:label` ({} when the file or table is absent)."""
    path = config_path()
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise InstanceError(f"Cannot read the config file {path}: {err}") from None
    table = data.get(type_, {}).get(label, {})
    if not isinstance(table, dict):
        raise InstanceError(f"{path}: [{type_}.{label}] must be a table")
    return table


def parse_keys(keys: str) -> tuple[str, str]:
    """('sql', 'main') from 'sql:main'; a bare type means its `main` instance."""
    type_, sep, label = str(keys).strip().partition(":")
    type_ = type_.lower()
    if type_ not in TYPES or (sep and not label):
        raise ValueError(f"Unknown instance {keys!r}: use sql:LABEL or api:LABEL.")
    return type_, label or "main"


def get_connector(keys: str | BaseConnector = "sql:main",
                  **attributes: Any) -> BaseConnector:
    """The connector for `keys`, made once and reused; with attributes, a new one.

    `get_connector('sql:main')` works on the database named by DATABASE_URL;
    `get_connector('api:main')` talks to a running service (MRSM_API_URL, ...).
    """
    if isinstance(keys, BaseConnector):
        return keys
    type_, label = parse_keys(keys)
    if attributes:
        return _make(type_, label, attributes)
    with _LOCK:
        key = f"{type_}:{label}"
        if key not in _CONNECTORS:
            _CONNECTORS[key] = _make(type_, label, {})
        return _CONNECTORS[key]


def clear_connectors() -> None:
    """Close every connector's pool and session and forget the cached connectors (they are
    rebuilt from the environment on next use)."""
    with _LOCK:
        _CONNECTORS.clear()
    shutdown()


def _make(type_: str, label: str, attributes: dict[str, Any]) -> BaseConnector:
    return _CLASSES[type_](label, **attributes)
