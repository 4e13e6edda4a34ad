"""`mrsm register|show|delete user(s)`."""

from __future__ import annotations

import sys

from service.cli.context import Context
from service.cli.output import more_hint, print_json, short_time, table
from service.cli.parsing import parse_scopes
from service.cli.prompts import CliError
from service.sdk.base import run


def _password(ctx: Context) -> str:
    args = ctx.args
    if args.password is not None and args.password_stdin:
        raise CliError("Give --password or --password-stdin, not both.")
    if args.password is not None:
        return args.password
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line.strip():
            raise CliError("--password-stdin: no password on standard input.")
        return line.rstrip("\r\n")
    what = "The password"
    first = ctx.prompter.secret("Password: ", flag="--password-stdin", what=what)
    second = ctx.prompter.secret("Repeat the password: ", flag="--password-stdin", what=what)
    if first != second:
        raise CliError("The two passwords differ; nothing was registered.")
    return first


def register(ctx: Context) -> int:
    if len(ctx.rest) > 1:
        raise CliError("Give one username: mrsm register user NAME.")
    username = ctx.rest[0] if ctx.rest else ctx.prompter.ask(
        "Username: ", flag="the name (mrsm register user NAME)", what="The username")
    if not username:
        raise CliError("The username is empty; nothing was registered.")
    body = {"username": username, "password": _password(ctx)}
    if ctx.args.type:
        body["type"] = ctx.args.type
    scopes = parse_scopes(ctx.args.scopes)
    if scopes is not None:
        body["scopes"] = scopes
    out = run(ctx.conn.acreate_user(body))
    if ctx.args.json:
        print_json(out)
    else:
        print(f"Registered {out['type']} '{out['username']}' with scopes: "
              f"{' '.join(out['scopes']) or '(none)'}.")
    return 0


def show(ctx: Context) -> int:
    ctx.no_args("show users")
    page = run(ctx.conn.auser_page(limit=ctx.args.limit, offset=ctx.args.offset))
    if ctx.args.json:
        print_json(page)
        return 0
    if not page["items"]:
        print("No users.")
        return 0
    rows = [[u["username"], u["type"], " ".join(u["scopes"]), short_time(u["created_at"])]
            for u in page["items"]]
    print(table(["USERNAME", "TYPE", "SCOPES", "CREATED"], rows))
    hint = more_hint(page)
    if hint:
        sys.stderr.write(hint + "\n")
    return 0


def delete(ctx: Context) -> int:
    if len(ctx.rest) != 1:
        raise CliError("Give one username: mrsm delete user NAME.")
    username = ctx.rest[0]
    if not ctx.prompter.confirm(f"Delete user '{username}'? Their tokens are invalidated and "
                                "kept without an owner.", default=False, yes=ctx.args.yes):
        raise CliError("Cancelled: nothing was deleted.")
    run(ctx.conn.adelete_user(username))
    if not ctx.args.json:
        print(f"Deleted user '{username}'.")
    return 0
