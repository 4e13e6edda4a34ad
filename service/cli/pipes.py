"""`mrsm show pipes`, `mrsm register|delete pipe CK MK [LK]`, `mrsm show data CK MK [LK]`."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from service.cli.context import Context
from service.cli.output import more_hint, print_json, short_time, table
from service.cli.prompts import CliError
from service.pipes.rows import page_csv, parse_timestamp
from service.sdk.base import run

Keys = tuple[str, str, str | None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("pipes")
    group.add_argument("-c", "--connector-keys", help="with show pipes, a filter")
    group.add_argument("-m", "--metric-key", help="with show pipes, a filter")
    group.add_argument("-l", "--location-key",
                       help="with show pipes, a filter ('-': pipes without a location)")
    group.add_argument("--begin", metavar="WHEN",
                       help="with show data: from this time on (ISO 8601; no offset means UTC)")
    group.add_argument("--end", metavar="WHEN",
                       help="with show data: before this time (ISO 8601; no offset means UTC)")
    group.add_argument("--csv", action="store_true", help="with show data: print CSV")
    group.add_argument("--parameters", metavar="JSON",
                       help="with register pipe: the pipe's parameters, a JSON object")


def _keys(ctx: Context, command: str) -> Keys:
    if len(ctx.rest) not in (2, 3):
        raise CliError(f"Give the pipe's keys: mrsm {command} CONNECTOR METRIC [LOCATION] "
                       "(the keys are in `mrsm show pipes`).")
    location = ctx.rest[2] if len(ctx.rest) == 3 else None
    return ctx.rest[0], ctx.rest[1], None if location == "-" else location


def _name(keys: Keys) -> str:
    return f"{keys[0]}/{keys[1]}/{keys[2] or '-'}"


def show(ctx: Context) -> int:
    ctx.no_args("show pipes")
    args = ctx.args
    filters = {name: value for name, value in (
        ("connector_keys", args.connector_keys), ("metric_key", args.metric_key),
        ("location_key", args.location_key)) if value is not None}
    page = run(ctx.conn.apipe_page(filters=filters, limit=args.limit, offset=args.offset))
    if args.json:
        print_json(page)
        return 0
    if not page["items"]:
        print("No pipes." if not filters else "No pipes match.")
        return 0
    print(table(["CONNECTOR", "METRIC", "LOCATION", "PARAMETERS", "CREATED"], [
        [p["connector_keys"], p["metric_key"], p["location_key"] or "-",
         json.dumps(p["parameters"], ensure_ascii=False, separators=(",", ":")),
         short_time(p["created_at"])] for p in page["items"]]))
    hint = more_hint(page)
    if hint:
        sys.stderr.write(hint + "\n")
    return 0


def register(ctx: Context) -> int:
    keys = _keys(ctx, "register pipe")
    parameters = {}
    if ctx.args.parameters is not None:
        try:
            parameters = json.loads(ctx.args.parameters)
        except ValueError as err:
            raise CliError(f"--parameters is not JSON: {err}.") from None
        if not isinstance(parameters, dict):
            raise CliError("--parameters must be a JSON object, like '{\"unit\": \"C\"}'.")
    out = run(ctx.conn.acreate_pipe({"connector_keys": keys[0], "metric_key": keys[1],
                                     "location_key": keys[2], "parameters": parameters}))
    if ctx.args.json:
        print_json(out)
    else:
        print(f"Registered pipe {_name(keys)}.")
    return 0


def _bound(flag: str, text: str | None) -> str | None:
    """The flag's time as the API takes it, or a one-line error before anything is read."""
    if text is None:
        return None
    value = parse_timestamp(text)
    if value is None:
        raise CliError(f"{flag} is not a date or time: {text!r} (use ISO 8601, like "
                       "2024-05-01 or 2024-05-01T12:00:00Z).")
    return value.isoformat().replace("+00:00", "Z")


def data(ctx: Context) -> int:
    keys = _keys(ctx, "show data")
    begin, end = _bound("--begin", ctx.args.begin), _bound("--end", ctx.args.end)
    rows = run(ctx.conn.aread_rows(*keys, begin=begin, end=end))
    if ctx.args.json:
        print_json(rows)
        return 0
    # The service's own CSV: timestamp, then the value columns sorted by name.
    text = page_csv((parse_timestamp(row.pop("timestamp")), json.dumps(row)) for row in rows)
    if ctx.args.csv:
        sys.stdout.write(text)
        return 0
    if not rows:
        print(f"No rows in {_name(keys)}" + (" in that time range." if begin or end else "."))
        return 0
    lines = list(csv.reader(io.StringIO(text)))
    print(table([h.upper() for h in lines[0]], lines[1:]))
    return 0


def delete(ctx: Context) -> int:
    keys = _keys(ctx, "delete pipe")
    pipe = run(ctx.conn.aget_pipe(*keys))
    count = pipe["row_count"]
    if not ctx.prompter.confirm(
            f"Delete pipe {_name(keys)} and its {count} row{'s' if count != 1 else ''} "
            "permanently?", default=False, yes=ctx.args.yes):
        raise CliError("Cancelled: nothing was deleted.")
    run(ctx.conn.adelete_pipe(*keys))
    if not ctx.args.json:
        print(f"Deleted pipe {_name(keys)} ({count} row{'s' if count != 1 else ''}).")
    return 0
