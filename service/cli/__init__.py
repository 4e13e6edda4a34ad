"""`mrsm`: manage tokens and users from the command line (the seed's CLI).

    mrsm register token          prompts for owner, label, expiration, scopes, pipes
    mrsm show tokens [ID]        a table (or one token); --expiring 7d: those expiring soon
    mrsm edit token ID           change label, expiration, scopes, pipes
    mrsm rotate token ID         a new secret; the old one works for --overlap (default 1h)
    mrsm invalidate token ID     stop a token working for good; it stays listed (asks first)
    mrsm delete token ID         remove a token (asks first, unless --yes)
    mrsm register user [NAME]    mrsm show users    mrsm delete user NAME
    mrsm edit user NAME          change type, scopes, password (--password-stdin)
    mrsm show pipes              a table of pipes (-c, -m, -l filter by their keys)
    mrsm register pipe CK MK [LK]    mrsm delete pipe CK MK [LK] (asks first, unless --yes)
    mrsm show data CK MK [LK]    a pipe's rows (--begin, --end, --csv)
    mrsm start api               run the service (as `python -m service`)
    mrsm migrate [down N]        apply (or undo) database migrations
    mrsm introspect TOKEN        is a JWT or API key active, and what may it do
    mrsm rotate signing-key      publish a new JWT signing key (sql: only)

`--instance sql:main` (the default) works straight on the database named by
DATABASE_URL, as its operator; `--instance api:NAME` talks to a running service.
A token ID may be shortened to a unique prefix of 8 characters or more.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from service.cli import oauth, pipes, rotate, tokens, users
from service.cli.context import Context
from service.cli.prompts import CliError
from service.sdk.base import InstanceError

_NOUNS = {"token": "token", "tokens": "token", "user": "user", "users": "user", "api": "api",
          "pipe": "pipe", "pipes": "pipe", "data": "data", "signing-key": "signing-key"}


def _start_api(ctx: Context) -> int:
    ctx.no_args("start api")
    return _server(ctx, [])


def _migrate(ctx: Context) -> int:
    rest = ctx.rest
    if not (rest == [] or rest == ["down"] or (len(rest) == 2 and rest[0] == "down"
                                               and rest[1].isdigit())):
        raise CliError("Use: mrsm migrate, or mrsm migrate down [N] (N: how many; 0: all).")
    return _server(ctx, ["migrate", *rest])


def _server(ctx: Context, argv: list[str]) -> NoReturn:
    """Become `python -m service ARGV`, on the instance's database.

    The process is replaced rather than the server imported: the command line works
    through the SDK and the resources' rules, never the server's modules. The PID stays,
    so signals and a supervisor reach the service itself. `-P`: the `service` package
    this interpreter has installed, not a directory of that name where `mrsm` was run."""
    if ctx.conn.type != "sql":
        raise CliError("This runs on a sql: instance (the database itself), not on api:.")
    env = dict(os.environ)
    url = ctx.conn.configured_url()
    if url:  # else the embedded PostgreSQL in DATA_DIR, as `python -m service` does
        env["DATABASE_URL"] = url
    if ctx.args.port is not None:
        env["PORT"] = str(ctx.args.port)
    if ctx.args.host is not None:
        env["HOST"] = ctx.args.host
    sys.stdout.flush()
    sys.stderr.flush()
    command = [sys.executable, "-P", "-m", "service", *argv]
    os.execve(sys.executable, command, env)  # noqa: S606 - our interpreter, fixed arguments


COMMANDS: dict[tuple[str, str | None], Callable[[Context], int]] = {
    ("register", "token"): tokens.register,
    ("show", "token"): tokens.show,
    ("edit", "token"): tokens.edit,
    ("rotate", "token"): rotate.rotate,
    ("invalidate", "token"): tokens.invalidate,
    ("delete", "token"): tokens.delete,
    ("register", "user"): users.register,
    ("show", "user"): users.show,
    ("edit", "user"): users.edit,
    ("delete", "user"): users.delete,
    ("show", "pipe"): pipes.show,
    ("register", "pipe"): pipes.register,
    ("delete", "pipe"): pipes.delete,
    ("show", "data"): pipes.data,
    ("start", "api"): _start_api,
    ("migrate", None): _migrate,
    ("introspect", None): oauth.introspect,
    ("rotate", "signing-key"): oauth.rotate_signing_key,
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line on stderr, not the usage block
        self.exit(2, f"mrsm: {message} (see mrsm --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mrsm", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("words", nargs="*", metavar="ACTION NOUN [ARG]",
                        help="e.g. register token, show tokens, delete token ID")
    parser.add_argument("-i", "--instance", default="sql:main",
                        help="sql:LABEL (the database; default sql:main) or api:LABEL")
    parser.add_argument("--json", action="store_true",
                        help="print the HTTP API's JSON instead of text")
    parser.add_argument("-y", "--yes", action="store_true",
                        help="do not ask for confirmation; take defaults for what is not given")
    token = parser.add_argument_group("tokens")
    token.add_argument("-u", "--user", help="the token's owner; with show tokens, a filter")
    token.add_argument("--label", help="the token's label (default: a generated one)")
    token.add_argument("--expires", metavar="WHEN",
                       help="a date (2027-01-31), days (30d), or none for never")
    token.add_argument("--ttl-days", type=int, metavar="N", help="expire N days from now")
    token.add_argument("--scopes", help="space- or comma-separated (default: all the owner's)")
    token.add_argument("--pipes", action="append", metavar="PATTERNS",
                       help="the pipes the token may reach: CK/MK/LK patterns, '*' any key, "
                            "'-' no location (e.g. 'mqtt:garden/*/*'); repeatable or "
                            "comma-separated; all: every pipe (the default)")
    token.add_argument("--overlap", metavar="DURATION",
                       help="with rotate token: how long the old secret keeps working "
                            "(30m, 1h, 2d; 0 ends it now; default 1h)")
    token.add_argument("--expiring", metavar="DURATION",
                       help="with show tokens: only valid tokens expiring within it (7d)")
    user = parser.add_argument_group("users")
    user.add_argument("--password", help="the user's (new) password (visible to `ps`; "
                                         "prefer --password-stdin)")
    user.add_argument("--password-stdin", action="store_true",
                      help="read the user's (new) password from standard input")
    user.add_argument("--type", choices=["user", "admin"], help="the user's type")
    listing = parser.add_argument_group("listing")
    listing.add_argument("--limit", type=int, default=100, help="rows per page (1-1000)")
    listing.add_argument("--offset", type=int, default=0, help="rows to skip")
    pipes.add_arguments(parser)
    server = parser.add_argument_group("start api")
    server.add_argument("--port", type=int, help="PORT for the service")
    server.add_argument("--host", help="HOST for the service")
    return parser


def _resolve(words: list[str]) -> tuple[Callable[[Context], int], list[str]]:
    action = words[0].lower()
    if (action, None) in COMMANDS:  # one-word commands: migrate, introspect
        return COMMANDS[(action, None)], words[1:]
    noun = _NOUNS.get(words[1].lower()) if len(words) > 1 else None
    command = COMMANDS.get((action, noun))
    if command is None:
        raise CliError(f"Unknown command: {' '.join(words[:2])} (try: register token, "
                       "show tokens, edit token, rotate token, invalidate token, delete token, "
                       "register user, show users, edit user, delete user, show pipes, "
                       "register pipe, delete pipe, show data, start api, migrate, "
                       "introspect, rotate signing-key).")
    return command, words[2:]


def main(argv: list[str] | None = None) -> int:
    """The console script's entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_intermixed_args(sys.argv[1:] if argv is None else argv)
    if not args.words:
        parser.print_help()
        return 0
    try:
        command, rest = _resolve(args.words)
        if not 1 <= args.limit <= 1000 or args.offset < 0:
            raise CliError("--limit must be 1 to 1000 and --offset at least 0.")
        return command(Context(args=args, rest=rest))
    except (CliError, InstanceError) as err:
        print(f"mrsm: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`mrsm show tokens | head`): stop quietly, as other tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("\nmrsm: interrupted; nothing more was done.", file=sys.stderr)
        return 130
    except Exception as err:  # a bug: still one line, with the trace on request
        if os.environ.get("MRSM_DEBUG"):
            raise
        print(f"mrsm: unexpected error ({type(err).__name__}: {err}); "
              "set MRSM_DEBUG=1 to see where.", file=sys.stderr)
        return 1
