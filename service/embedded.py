"""An embedded PostgreSQL (the `pgserver` package) for when no DATABASE_URL is given."""

from __future__ import annotations

import dataclasses
import logging
import warnings
from pathlib import Path

from service.config import Settings

log = logging.getLogger("service.embedded")
PGSERVER_LOG = "pgserver.log"  # beside the data directory: pgserver's own (verbose) lines


def start_embedded(data_dir: Path, *, cleanup_mode: str | None = "stop"):
    """Start (or join) a PostgreSQL whose files live in `data_dir`; returns (server, dsn)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
            import pgserver
    except ImportError:  # pragma: no cover - depends on the install
        raise SystemExit(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed: "
            "pip install 'mrsm-tokens[embedded]' or set DATABASE_URL."
        ) from None
    data_dir.mkdir(parents=True, exist_ok=True)
    _log_to_file(data_dir.parent / PGSERVER_LOG)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        server = pgserver.get_server(data_dir, cleanup_mode=cleanup_mode)
    dsn = server.get_uri()
    log.info("embedded PostgreSQL in %s (its log: %s)", data_dir, data_dir.parent / PGSERVER_LOG)
    return server, dsn


def _log_to_file(path: Path) -> None:
    """pgserver logs every initdb and pg_ctl command line at INFO: to its own file, not the
    terminal, where it would bury the first start's admin password."""
    pg_log = logging.getLogger("pgserver")
    if any(isinstance(h, logging.FileHandler) for h in pg_log.handlers):
        return
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    pg_log.addHandler(handler)
    pg_log.setLevel(logging.INFO)
    pg_log.propagate = False


def with_database(settings: Settings) -> tuple[Settings, object | None]:
    """Settings with a DATABASE_URL: the given one, or an embedded server's in DATA_DIR.

    The server (None when a URL was given) must be kept referenced while it is in use."""
    if settings.database_url:
        return settings, None
    server, dsn = start_embedded(settings.data_dir / "pg")
    return dataclasses.replace(settings, database_url=dsn), server
