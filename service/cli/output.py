"""Printing results: aligned tables, short times, and the HTTP API's JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime


def print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def short_time(value: str | None, empty: str = "-") -> str:
    """'2027-01-31 12:00 UTC' from the API's ISO 8601, or `empty`."""
    if not value:
        return empty
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M UTC")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def more_hint(page: dict) -> str | None:
    """'Showing 1-100 of 250 ...' when a page does not hold everything."""
    shown = len(page["items"])
    if page["offset"] == 0 and shown >= page["total"]:
        return None
    first = page["offset"] + 1 if shown else page["offset"]
    return (f"Showing {first}-{page['offset'] + shown} of {page['total']}; "
            "use --offset and --limit for the others.")
