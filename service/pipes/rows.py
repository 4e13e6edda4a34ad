"""Rows in and out: validating a written batch, JSON text for jsonb, and CSV output."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.errors import ApiError
from service.validation import isoformat

MAX_ROWS = 10_000
TIMESTAMP = "timestamp"


# One encoder for every call: json.dumps with options builds a new one each time.
_ENCODER = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":"))


class JsonNotStorable(ValueError):
    """A JSON value PostgreSQL's jsonb cannot hold (NaN, NUL characters, lone surrogates)."""


def _has_nul(value: Any) -> bool:
    # A walk with its own stack: a recursive one overflowed Python's on deep values (a 500).
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def encode_json(value: Any) -> str:
    """`value` as JSON text jsonb accepts, or JsonNotStorable saying why not.

    Python's json module reads NaN, Infinity, "\\u0000" and lone surrogates; jsonb refuses
    all of them, so they are caught here as a 422 rather than as a database error (a 500).
    """
    try:
        text = _ENCODER.encode(value)
    except ValueError:
        raise JsonNotStorable("numbers must be finite (no NaN or Infinity)") from None
    # Cheap test first; the exact walk only runs when the escape text is present at all.
    if "\\u0000" in text and _has_nul(value):
        raise JsonNotStorable("strings may not contain the NUL character (\\u0000)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonNotStorable("strings may not contain unpaired surrogates") from None
    return text


def parse_timestamp(value: Any) -> datetime | None:
    """ISO 8601 -> aware UTC datetime (no offset means UTC); None when unparseable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return _in_utc(parsed)


def _in_utc(parsed: datetime) -> datetime | None:
    """A parsed timestamp in UTC (no offset means UTC); None when UTC is out of range."""
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _bad_row(index: int, message: str) -> ApiError:
    return ApiError(422, "validation_error",
                    f"Row {index} is not valid; nothing was written.",
                    fields={str(index): [message]})


@dataclass(frozen=True)
class Rows:
    """A request's rows as the database takes them: distinct timestamps in time order, and
    the same as ISO 8601 text with an offset (`stamps`, what the write statement reads);
    `body`, the JSON text of the whole request (its rows, timestamps included); and per
    timestamp the index in `body` of the row that wins it (the last one).

    One encoding of the whole body costs a fraction of one per row, and PostgreSQL takes
    each row's values out of it (dropping the timestamp key) in the write statement."""

    timestamps: list[datetime]
    body: str
    positions: list[int]
    stamps: list[str]

    def __len__(self) -> int:
        return len(self.timestamps)


NO_ROWS = Rows([], "[]", [], [])


def _values_error(data: list, upto: int) -> ApiError | None:
    """The 422 for the first of data[:upto] whose values jsonb cannot hold, if any (the slow
    path, run only once some row is known to be wrong)."""
    for index in range(upto):
        values = {k: v for k, v in data[index].items() if k != TIMESTAMP}
        try:
            encode_json(values)
        except JsonNotStorable as err:
            return _bad_row(index, str(err))
    return None


# What PostgreSQL may read otherwise than json.loads did, or refuse, in a body's text:
# escapes (\u0000 and lone surrogates, which jsonb refuses), NaN and Infinity (the same),
# exponents (1e400 is infinite to Python, a 400-digit numeric to jsonb), numbers of more than
# 15 digits (a float keeps 15 exactly: 0.1000000000000000001 is 0.1 to Python, not to
# jsonb), NUL bytes (UTF-16 or UTF-32 text) and a byte order mark. Looked for in the text with
# its digits and points read as 0 and E as e; a string holding one only costs the fast path.
# Any backslash counts as an escape: a search for one byte is the fastest there is.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789.E", b"0000000000e")
_LONG_NUMBER = b"0" * 16
_BOM = b"\xef\xbb\xbf"


def _verbatim(raw: bytes) -> str | None:
    """The body's own text, when jsonb reads it as json.loads read it (numbers with their
    digits as sent: 1.50, the value Python read); else None."""
    if (b"\\" in raw or b"\x00" in raw or raw.startswith(_BOM)
            or (b"N" in raw and b"NaN" in raw) or (b"I" in raw and b"Infinity" in raw)):
        return None
    marked = raw.translate(_DIGITS_AS_ZERO)
    if b"0e" in marked or _LONG_NUMBER in marked:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


# Timestamps that PostgreSQL reads as the instant Python read (once Python has accepted them):
# ISO 8601's extended form with an offset, to the microsecond at most; offsets within
# PostgreSQL's +-15:59 (Python takes up to +-23:59, which PostgreSQL refuses). Most devices send
# these, and their own text then goes to the database as it came: writing a hundred
# datetimes as text again, or having asyncpg encode them, cost several times more.
_PLAIN_STAMPS = re.compile(
    r"(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-](?:0\d|1[0-5]):[0-5]\d),)*",
    re.ASCII)


def _stamps(data: list, ordered: list[datetime], positions: list[int]) -> list[str]:
    """The winning rows' timestamps as text PostgreSQL reads, in time order."""
    given = [row[TIMESTAMP] for row in data]
    if _PLAIN_STAMPS.fullmatch(",".join(given) + ","):
        return [given[i] for i in positions]
    return [ts.isoformat() for ts in ordered]


def _timestamps(data: list) -> list[datetime] | None:
    """Every row's timestamp, aware and in UTC, at C speed; None when some row is not a
    plain object with an ISO 8601 timestamp (parse_rows's row-by-row check says which)."""
    try:
        parsed = [datetime.fromisoformat(row[TIMESTAMP]) for row in data]
    except (TypeError, KeyError, ValueError):
        return None
    if all(ts.tzinfo is UTC for ts in parsed):  # "Z" and "+00:00" parse to UTC itself
        return parsed
    normalized = [_in_utc(ts) for ts in parsed]
    return None if None in normalized else normalized


def parse_rows(data: Any, raw: bytes | None = None) -> Rows:
    """A request's rows, one per distinct timestamp, in time order; `raw`, the JSON text
    `data` was decoded from, is stored as it is when PostgreSQL reads it alike.

    The last row for a timestamp wins. Raises a 422 naming the first bad row, or a 413
    past MAX_ROWS.
    """
    if not isinstance(data, list):
        raise ApiError(422, "validation_error", "The body must be a JSON array of rows.",
                       fields={"_schema": ["must be a JSON array of rows"]})
    if len(data) > MAX_ROWS:
        raise ApiError(413, "payload_too_large",
                       f"At most {MAX_ROWS} rows per request; this one has {len(data)}.")
    stamps = _timestamps(data)
    if stamps is None:
        stamps = _checked_timestamps(data)
    body = _verbatim(raw) if raw is not None else None
    if body is None:
        try:
            # The timestamps are ISO strings: only the values can make this fail.
            body = encode_json(data)
        except JsonNotStorable as err:
            raise _values_error(data, len(data)) or ApiError(
                422, "validation_error", str(err), fields={"_schema": [str(err)]}) from None
    latest = dict(zip(stamps, range(len(stamps)), strict=True))  # a later row wins
    # In time order: concurrent batches that share timestamps then lock their rows in the
    # same order, so they wait for each other instead of deadlocking.
    ordered = sorted(latest)
    positions = [latest[ts] for ts in ordered]
    return Rows(ordered, body, positions, _stamps(data, ordered, positions))


def _checked_timestamps(data: list) -> list[datetime]:
    """Every row's timestamp, row by row: a 422 naming the first bad row."""
    stamps = []
    for index, row in enumerate(data):
        if not isinstance(row, dict):
            message = "not a JSON object"
        elif TIMESTAMP not in row:
            message = "missing timestamp"
        else:
            ts = parse_timestamp(row[TIMESTAMP])
            if ts is not None:
                stamps.append(ts)
                continue
            message = "timestamp is not an ISO 8601 date and time"
        # Rows are checked in order: an earlier row's unstorable values are the first error.
        raise _values_error(data, index) or _bad_row(index, message)
    return stamps


def row_json(ts: datetime, values_text: str) -> str:
    """One stored row as JSON text, built from jsonb's own text without decoding it."""
    stamp = json.dumps(isoformat(ts))
    inner = values_text.strip()[1:-1].strip()  # jsonb text of an object: "{...}"
    # Spaced like json.dumps and like jsonb's own text, so the whole body reads alike.
    return '{"timestamp": ' + stamp + (", " + inner if inner else "") + "}"


def page_json(rows: Iterable[tuple[datetime, str]], next_url: str | None) -> str:
    """The body of GET .../data: {"items": [...], "next": ...}."""
    items = ", ".join(row_json(ts, text) for ts, text in rows)
    return '{"items": [' + items + '], "next": ' + json.dumps(next_url) + "}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    # Numbers, booleans, objects and arrays as JSON text: true, 1.5, {"a":1}, [1,2].
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")
_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[][{}]')


def _container_end(text: str, pos: int) -> int:
    depth = 0
    for match in _BRACKET.finditer(text, pos):
        part = match.group()
        if part == "[" or part == "{":
            depth += 1
        elif part == "]" or part == "}":
            depth -= 1
            if depth == 0:
                return match.end()
    raise ValueError("unbalanced JSON text")


def _top_level(text: str) -> dict[str, Any]:
    """jsonb's text of an object too deep for json.loads, one level decoded: an object or
    array value is kept as its JSON text, which is what its CSV cell holds anyway."""
    out: dict[str, Any] = {}
    pos = _SPACE.match(text, text.index("{") + 1).end()
    while text[pos] != "}":
        key, pos = _DECODER.raw_decode(text, pos)
        pos = _SPACE.match(text, _SPACE.match(text, pos).end() + 1).end()  # past the colon
        if text[pos] in "[{":
            end = _container_end(text, pos)
            out[key] = text[pos:end]
            pos = end
        else:
            out[key], pos = _DECODER.raw_decode(text, pos)
        pos = _SPACE.match(text, pos).end()
        if text[pos] == ",":
            pos = _SPACE.match(text, pos + 1).end()
    return out


def _decode_values(text: str) -> dict[str, Any]:
    try:
        return json.loads(text)
    except RecursionError:
        # Stored before bodies were limited to MAX_JSON_DEPTH: still exported, not a 500.
        return _top_level(text)


def page_csv(rows: Iterable[tuple[datetime, str]]) -> str:
    """CSV: a header (timestamp, then every value column of the page, sorted by name), then
    one line per row; a missing or null value is an empty cell."""
    decoded = [(ts, _decode_values(text)) for ts, text in rows]
    columns = sorted({key for _, values in decoded for key in values})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([TIMESTAMP, *columns])
    for ts, values in decoded:
        writer.writerow([isoformat(ts), *(_cell(values.get(key)) for key in columns)])
    return out.getvalue()
