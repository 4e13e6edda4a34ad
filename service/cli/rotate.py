"""`mrsm rotate token ID [--overlap 1h]`, and the durations it and `--expiring` take."""

from __future__ import annotations

import re

from service.cli.context import Context
from service.cli.output import print_json, short_time
from service.cli.prompts import CliError
from service.sdk.base import run

_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$", re.IGNORECASE)
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_NAMES = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
DEFAULT_OVERLAP = "1h"


def parse_duration(text: str, flag: str) -> int:
    """Seconds from `90s`, `30m`, `1h`, `2d` or a bare number of seconds (`0`)."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise CliError(f"{flag} takes a duration like 30m, 1h, 2d or 0, not {text!r}.")
    return int(match.group(1)) * _UNIT[match.group(2).lower()]


def spoken(seconds: int) -> str:
    """'1 hour', '90 minutes', '2 days': the largest unit that divides it."""
    for name, size in _NAMES:
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {name}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"  # pragma: no cover - seconds always divide


def rotate(ctx: Context) -> int:
    args = ctx.args
    overlap = parse_duration(args.overlap or DEFAULT_OVERLAP, "--overlap")
    token = run(ctx.conn.aget_token(ctx.token_id("rotate token")))
    owner = f" of {token['user']}" if token["user"] else ""
    if overlap:
        consequence = f"The current secret keeps working for {spoken(overlap)}."
    else:
        consequence = ("The current secret stops working now, and so does every JWT "
                       "issued with it.")
    # No overlap cuts every device at once: asked with "no" as the default.
    if not ctx.prompter.confirm(f"Rotate token '{token['label']}' ({token['id']}){owner}? "
                                f"{consequence}", default=bool(overlap), yes=args.yes):
        raise CliError("Cancelled: nothing was rotated.")
    out = run(ctx.conn.arotate_token(token["id"], overlap))
    if args.json:
        print_json(out)
        return 0
    until = out["previous_secret_expires_at"]
    previous = (f"works until {short_time(until)}" if until
                else "no longer works (nor do JWTs issued before)")
    print(f"Rotated token '{out['label']}'.\n\n"
          f"  Client ID:       {out['id']}\n"
          f"  Client Secret:   {out['secret']}\n"
          f"  API Key:         {out['api_key']}\n"
          f"  Previous secret: {previous}\n\n"
          "Copy the Client Secret and the API Key somewhere safe now: "
          "the secret will not be shown again.")
    return 0
