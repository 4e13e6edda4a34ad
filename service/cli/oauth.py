"""`mrsm introspect TOKEN` and `mrsm rotate signing-key`."""

from __future__ import annotations

from datetime import UTC, datetime

from service.cli.context import Context
from service.cli.output import print_json
from service.cli.prompts import CliError
from service.sdk.base import run

_ORDER = ("active", "token_type", "username", "sub", "client_id", "scope", "iat", "exp",
          "iss", "aud", "jti")
_TIMES = ("iat", "exp")


def introspect(ctx: Context) -> int:
    """Whether a JWT or API key is active (exit 0) or not (exit 1), and its claims."""
    if len(ctx.rest) != 1:
        raise CliError("Give one token: mrsm introspect TOKEN (a JWT or an API key).")
    body = run(ctx.conn.aintrospect(ctx.rest[0]))
    if ctx.args.json:
        print_json(body)
    else:
        width = max(len(name) for name in _ORDER)
        for name in _ORDER:
            if name not in body:
                continue
            value = body[name]
            if name in _TIMES:
                when = datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                value = f"{value} ({when})"
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            print(f"{name.ljust(width)}  {value}")
    return 0 if body.get("active") else 1


def rotate_signing_key(ctx: Context) -> int:
    ctx.no_args("rotate signing-key")
    if ctx.conn.type != "sql":
        raise CliError("This runs on a sql: instance (the database itself), not on api:.")
    made = run(ctx.conn.arotate_signing_key())
    if ctx.args.json:
        print_json(made)
    else:
        print(f"Signing key {made['kid']} published; it signs in "
              f"{made['signs_in_seconds']:.0f} s. The keys it replaces stay accepted until "
              "the last JWT they signed has expired.")
    return 0
