"""`Pipe`: one time-series stream on an instance, as Meerschaum's `mrsm.Pipe`.

pandas is needed by `get_data()` alone, and imported there: `import service` stays light,
and a device script can sync plain dicts without it.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from service.sdk.base import BaseConnector, InstanceError, run
from service.sdk.config import get_connector
from service.sdk.pipe_rows import (
    TIMESTAMP,
    aware,
    chunks,
    iso,
    merge_patch_for,
    row_error,
    rows_of,
)

PANDAS_MISSING = ("Pipe.get_data() returns a pandas DataFrame and needs pandas: "
                  "pip install 'mrsm-tokens[pandas]' (or use Pipe.get_rows() for plain dicts).")


class Pipe:
    """A pipe, named by its keys: `Pipe('mqtt:garden', 'temperature', 'greenhouse.1',
    instance='api:main')`. Nothing is asked of the instance until a method needs it.

    `register()`, `edit()`, `sync()` and `delete()` return `(success, message)` and do not
    raise for a refusal or an unreachable instance; `exists()`, `get_rows()`, `get_data()`
    and reading `parameters` raise `InstanceError` then.
    """

    def __init__(self, connector_keys: str, metric_key: str, location_key: str | None = None,
                 parameters: dict[str, Any] | None = None,
                 instance: str | BaseConnector | None = None) -> None:
        self.connector_keys = str(connector_keys)
        self.metric_key = str(metric_key)
        self.location_key = None if location_key in (None, "", "-") else str(location_key)
        self.instance_connector = get_connector(instance or "sql:main")
        self._parameters = dict(parameters) if parameters is not None else None
        self._saved: dict[str, Any] | None = None  # the instance's parameters, for edit()
        self.created_at: datetime | None = None

    @property
    def keys(self) -> tuple[str, str, str | None]:
        return self.connector_keys, self.metric_key, self.location_key

    @property
    def instance_keys(self) -> str:
        return self.instance_connector.keys

    def __str__(self) -> str:
        return f"{self.connector_keys}/{self.metric_key}/{self.location_key or '-'}"

    def __repr__(self) -> str:
        location = f", {self.location_key!r}" if self.location_key is not None else ""
        return (f"Pipe({self.connector_keys!r}, {self.metric_key!r}{location}, "
                f"instance={self.instance_keys!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pipe):
            return NotImplemented
        return self.keys == other.keys and self.instance_keys == other.instance_keys

    def __hash__(self) -> int:
        return hash((self.keys, self.instance_keys))

    @classmethod
    def from_dict(cls, data: dict[str, Any], instance: str | BaseConnector) -> Pipe:
        """A pipe from the HTTP API's JSON shape."""
        pipe = cls(data["connector_keys"], data["metric_key"], data.get("location_key"),
                   instance=instance)
        pipe._load(data)
        return pipe

    def _load(self, data: dict[str, Any]) -> None:
        # Two deep copies: changing a nested value of `parameters` must not change `_saved`.
        self._saved = copy.deepcopy(data["parameters"])
        self._parameters = copy.deepcopy(data["parameters"])
        self.created_at = aware(data["created_at"]) if data.get("created_at") else None

    @property
    def parameters(self) -> dict[str, Any]:
        """The pipe's parameters (read from the instance on first use once registered);
        change them, then `edit()`."""
        if self._parameters is None:
            try:
                self._load(run(self.instance_connector.aget_pipe(*self.keys)))
            except InstanceError as err:
                if err.status != 404:
                    raise
                self._parameters = {}
        return self._parameters

    @parameters.setter
    def parameters(self, value: dict[str, Any]) -> None:
        self._parameters = dict(value)

    def _call(self, coro) -> tuple[bool, str, Any]:
        try:
            return True, "", run(coro)
        except InstanceError as err:
            return False, str(err), None

    def register(self) -> tuple[bool, str]:
        """Create the pipe with its parameters; refused if one with these keys exists."""
        body = {"connector_keys": self.connector_keys, "metric_key": self.metric_key,
                "location_key": self.location_key, "parameters": self._parameters or {}}
        ok, msg, out = self._call(self.instance_connector.acreate_pipe(body))
        if not ok:
            return False, msg
        self._load(out)
        return True, f"Registered pipe {self}."

    def exists(self) -> bool:
        """Whether the instance has this pipe (unsaved changes to `parameters` are kept)."""
        try:
            run(self.instance_connector.aget_pipe(*self.keys))
        except InstanceError as err:
            if err.status == 404:
                return False
            raise
        return True

    def edit(self) -> tuple[bool, str]:
        """Save `parameters` as they are now: keys added, changed and removed since they
        were read are sent as a merge patch, so an edit elsewhere to other keys is kept."""
        if self._parameters is None:
            return True, f"Pipe {self} is unchanged."
        wanted = self._parameters
        if self._saved is None:
            ok, msg, out = self._call(self.instance_connector.aget_pipe(*self.keys))
            if not ok:
                return False, msg
            self._saved = copy.deepcopy(out["parameters"])
        patch = merge_patch_for(self._saved, wanted)
        if not patch:
            return True, f"Pipe {self} is unchanged."
        ok, msg, out = self._call(self.instance_connector.aedit_pipe(*self.keys, patch))
        if not ok:
            return False, msg
        self._load(out)
        return True, f"Edited pipe {self}."

    def sync(self, rows: Any) -> tuple[bool, str]:
        """Write rows (a list of dicts, a dict of lists or a pandas DataFrame), each with a
        `timestamp`; a row whose timestamp is stored replaces it. Registers the pipe if
        needed. Rows go in requests of up to 10,000: each lands whole or not at all."""
        try:
            plain = rows_of(rows)
        except ValueError as err:
            return False, str(err)
        if not plain:
            return True, "Nothing to sync: no rows."
        inserted = updated = offset = 0
        for chunk in chunks(plain):
            try:
                out = run(self.instance_connector.awrite_rows(*self.keys, chunk, create=True))
            except InstanceError as err:
                msg = row_error(err, offset)
                if offset:
                    msg = (f"Inserted {inserted}, updated {updated} rows (the first {offset}), "
                           f"then: {msg}")
                return False, msg
            offset += len(chunk)
            inserted += out["inserted"]
            updated += out["updated"]
        return True, f"Inserted {inserted}, updated {updated} rows."

    def get_rows(self, begin: datetime | str | None = None,
                 end: datetime | str | None = None) -> list[dict[str, Any]] | None:
        """The rows from `begin` (inclusive) to `end` (exclusive) in time order, as dicts
        whose `timestamp` is an aware datetime in UTC; None when there is no such pipe."""
        try:
            found = run(self.instance_connector.aread_rows(
                *self.keys, begin=iso(begin), end=iso(end)))
        except InstanceError as err:
            if err.status == 404 and err.code == "not_found":
                return None
            raise
        for row in found:
            row[TIMESTAMP] = aware(row[TIMESTAMP])
        return found

    def get_data(self, begin: datetime | str | None = None, end: datetime | str | None = None):
        """`get_rows` as a pandas DataFrame: a `timestamp` column (datetime64, UTC) then one
        column per value, sorted by name; rows in time order; None when there is no such
        pipe."""
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError(PANDAS_MISSING, name="pandas") from err
        rows = self.get_rows(begin, end)
        if rows is None:
            return None
        # Columns in a fixed order, as in the CSV export: the stored order is jsonb's own.
        names = sorted({name for row in rows for name in row} - {TIMESTAMP})
        frame = pd.DataFrame(rows, columns=[TIMESTAMP, *names])
        frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True)
        return frame

    def delete(self) -> tuple[bool, str]:
        """Remove the pipe and all its rows."""
        ok, msg, _ = self._call(self.instance_connector.adelete_pipe(*self.keys))
        if not ok:
            return False, msg
        self._saved, self._parameters = None, None
        return True, f"Deleted pipe {self}."

