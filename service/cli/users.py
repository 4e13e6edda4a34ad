"""`mrsm register|show|edit|delete user(s)`."""

from __future__ import annotations

import sys

from service.cli.context import Context
from service.cli.output import more_hint, print_json, short_time, table
from service.cli.parsing import parse_scopes
from service.cli.prompts import CliError, retry
from service.sdk.base import run


def _password(ctx: Context, *, undone: str = "nothing was registered") -> str:
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
        raise CliError(f"The two passwords differ; {undone}.")
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


def edit(ctx: Context) -> int:
    """The same change as PATCH /users/{username}, under the same rules (applied by the
    instance: the last admin stays, admin-only scopes are for admins)."""
    args = ctx.args
    if len(ctx.rest) != 1:
        raise CliError("Give one username: mrsm edit user NAME.")
    username = ctx.rest[0]
    changes: dict = {}
    if args.type is not None:
        changes["type"] = args.type
    if args.scopes is not None:
        changes["scopes"] = parse_scopes(args.scopes)
        if changes["scopes"] is None:
            raise CliError("--scopes is empty: name at least one scope.")
    if args.password is not None or args.password_stdin:
        changes["password"] = _password(ctx, undone="nothing was changed")
    if not changes:
        if not ctx.prompter.interactive:
            raise CliError("Nothing to change and there is no terminal to ask: "
                           "pass --type, --scopes or --password-stdin.")
        changes = _ask_changes(ctx, _find(ctx, username))
        if not changes:
            print("Nothing changed.")
            return 0
    out = run(ctx.conn.aedit_user(username, changes))
    if args.json:
        print_json(out)
    else:
        password = "; password changed" if "password" in changes else ""
        print(f"Edited {out['type']} '{out['username']}': scopes: "
              f"{' '.join(out['scopes']) or '(none)'}{password}.")
    return 0


def _find(ctx: Context, username: str) -> dict:
    found = next((u for u in run(ctx.conn.alist_users())
                  if u["username"].lower() == username.lower()), None)
    if found is None:
        raise CliError(f"There is no user '{username}'.")
    return found


def _type(text: str, current: str) -> str:
    if not text:
        return current
    if text.lower() not in {"admin", "user"}:
        raise CliError(f"Not a user type: {text!r} (use admin or user).")
    return text.lower()


def _ask_changes(ctx: Context, user: dict) -> dict:
    """On a terminal, each field with its current value (blank keeps it)."""
    prompter, changes = ctx.prompter, {}
    type_ = retry(lambda: _type(prompter.ask(f"Type [{user['type']}] (admin or user): ",
                                             flag="--type", what="The type"), user["type"]))
    if type_ != user["type"]:
        changes["type"] = type_
    scopes = parse_scopes(prompter.ask(f"Scopes [{' '.join(user['scopes'])}]: ",
                                       flag="--scopes", what="The scopes"))
    if scopes is not None and set(scopes) != set(user["scopes"]):
        changes["scopes"] = scopes
    what = "The password"
    first = prompter.secret("New password (blank: unchanged): ", flag="--password-stdin",
                            what=what)
    if first:
        second = prompter.secret("Repeat the new password: ", flag="--password-stdin",
                                 what=what)
        if first != second:
            raise CliError("The two passwords differ; nothing was changed.")
        changes["password"] = first
    return changes


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
