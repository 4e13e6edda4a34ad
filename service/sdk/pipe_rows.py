"""Rows for `Pipe.sync`: what Python hands over (dicts, columns, a DataFrame) as the API's
rows, in requests of a size the API takes; and the merge patch `Pipe.edit` sends."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from service.pipes.rows import MAX_ROWS, TIMESTAMP
from service.sdk.base import InstanceError

# One request carries at most the rows the API takes and stays well inside its 1 MiB body.
CHUNK_ROWS = MAX_ROWS
CHUNK_BYTES = 512 * 1024


def iso(value: Any) -> Any:
    """A datetime as ISO 8601 in UTC (a naive one is taken as UTC); anything else as given."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _plain(value: Any) -> Any:
    """A value json can write: datetimes as ISO 8601, numpy scalars as Python's."""
    if isinstance(value, datetime | date):
        return iso(value)
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    return value


def aware(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _is_dataframe(rows: Any) -> bool:
    return type(rows).__module__.startswith("pandas") and hasattr(rows, "to_json")


def rows_of(rows: Any) -> list[dict]:
    """A list of dicts, a dict of lists (columns of equal length) or a pandas DataFrame as the
    API's rows; ValueError saying what is wrong otherwise."""
    if _is_dataframe(rows):
        frame = rows
        if TIMESTAMP not in frame.columns and frame.index.name == TIMESTAMP:
            frame = frame.reset_index()
        # to_json writes NaN and NaT as null (a missing value, as Meerschaum reads them),
        # timestamps as ISO 8601 to the microsecond.
        return json.loads(frame.to_json(orient="records", date_format="iso", date_unit="us"))
    if isinstance(rows, Mapping):
        columns = {str(name): list(values) for name, values in rows.items()}
        lengths = {len(values) for values in columns.values()}
        if len(lengths) > 1:
            raise ValueError("A dict of lists needs lists of one length; these have "
                             + ", ".join(f"{n}: {len(v)}" for n, v in columns.items()) + ".")
        count = lengths.pop() if lengths else 0
        return [{name: _plain(values[i]) for name, values in columns.items()}
                for i in range(count)]
    if isinstance(rows, Sequence) and not isinstance(rows, str | bytes):
        out = []
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise ValueError(f"Row {index} is not a dict.")
            out.append({str(k): _plain(v) for k, v in row.items()})
        return out
    raise ValueError("sync() takes a list of dicts, a dict of lists or a pandas DataFrame, "
                     f"not {type(rows).__name__}.")


def row_error(err: InstanceError, offset: int) -> str:
    """The refusal of a write; for a bad row, its index among all the rows synced (a chunk
    starts at `offset`) and what is wrong with it."""
    fields = err.fields or {}
    if len(fields) == 1 and next(iter(fields)).isdigit() and err.description.startswith("Row "):
        [(index, problems)] = fields.items()
        reasons = "; ".join(str(p) for p in (problems if isinstance(problems, list)
                                             else [problems]))
        return f"Row {int(index) + offset} is not valid; nothing was written: {reasons}"
    return str(err)


def chunks(rows: list[dict]) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    size = 0
    for row in rows:
        length = len(json.dumps(row, default=str))
        if chunk and (len(chunk) >= CHUNK_ROWS or size + length > CHUNK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += length + 1
    if chunk:
        yield chunk


def merge_patch_for(saved: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict:
    """The RFC 7386 patch that turns `saved` into `wanted` (a None value in `wanted`
    removes its key, as in any merge patch)."""
    patch: dict[str, Any] = {key: None for key in saved if key not in wanted}
    for key, value in wanted.items():
        old = saved.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            inner = merge_patch_for(old, value)
            if inner:
                patch[key] = inner
        elif key not in saved or old != value or type(old) is not type(value):
            patch[key] = value
    return patch
