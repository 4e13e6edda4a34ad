"""`mrsm register|show|edit|invalidate|delete token(s)`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from service.cli.context import Context
from service.cli.output import more_hint, print_json, short_time, table
from service.cli.parsing import (
    expiration_from_flags,
    iso,
    parse_expiration,
    parse_pipes,
    parse_scopes,
    pipes_text,
)
from service.cli.prompts import CliError, retry
from service.cli.rotate import parse_duration
from service.sdk.base import InstanceError, run


def _known_scopes(ctx: Context) -> list[str]:
    return [s["name"] for s in ctx.config()["scopes"]]


def _choose_owner(ctx: Context) -> tuple[str, list[str] | None]:
    """On sql:, the owner from --user or picked from the listed users (name or number)."""
    users = run(ctx.conn.alist_users())
    by_name = {u["username"].lower(): u for u in users}
    if ctx.args.user:
        found = by_name.get(ctx.args.user.lower())
        if found is None:
            raise CliError(f"There is no user '{ctx.args.user}'.")
        return found["username"], found["scopes"]
    if not ctx.prompter.interactive:
        raise CliError("The token's owner is missing and there is no terminal to ask: "
                       "pass --user NAME.")
    if not users:
        raise CliError("There are no users yet: register one with `mrsm register user NAME`.")
    sys.stderr.write("Users:\n")
    for number, user in enumerate(users, start=1):
        kind = " (admin)" if user["type"] == "admin" else ""
        sys.stderr.write(f"  {number:>3}  {user['username']}{kind}\n")
    for _ in range(3):
        answer = ctx.prompter.ask("Owner (name or number): ", flag="--user",
                                  what="The token's owner")
        if answer.isdigit() and 1 <= int(answer) <= len(users):
            chosen = users[int(answer) - 1]
            return chosen["username"], chosen["scopes"]
        if answer.lower() in by_name:
            chosen = by_name[answer.lower()]
            return chosen["username"], chosen["scopes"]
        sys.stderr.write(f"No user {answer!r}: type a name or a number from the list.\n")
    raise CliError("No owner chosen; nothing was registered.")


def register(ctx: Context) -> int:
    args, prompter = ctx.args, ctx.prompter
    ctx.no_args("register token")
    if ctx.conn.type == "sql":
        owner, owner_scopes = _choose_owner(ctx)
    else:
        me = run(ctx.conn.awhoami())
        owner = args.user or me["username"]
        owner_scopes = me["scopes"] if owner.lower() == me["username"].lower() \
            else _scopes_of(ctx, owner)
    # Scope and pipe flags are checked before anything is asked, so no answer is typed in vain.
    known = _known_scopes(ctx)
    scopes = _held(parse_scopes(args.scopes, known), owner, owner_scopes)
    pipes_given, pipes = _pipes_flag(args)
    # On a terminal, ask what the flags left out, unless --yes says "take the defaults".
    ask = prompter.interactive and not args.yes
    label = args.label
    if label is None and ask:
        label = prompter.ask("Label (blank: a generated one): ", flag="--label",
                             what="The label") or None
    exp_given, expiration = expiration_from_flags(args.expires, args.ttl_days)
    default_days = ctx.config()["token_default_ttl_days"]
    if args.expires is None and args.ttl_days is None and ask:
        exp_given, expiration = _ask(lambda: parse_expiration(prompter.ask(
            f"Expiration (a date like 2027-01-31, or days like 30d; blank: in {default_days} "
            "days; none: never): ", flag="--expires", what="The expiration")))
    if args.scopes is None and ask:
        held = f": {' '.join(owner_scopes)}" if owner_scopes else ""
        scopes = _ask(lambda: _held(parse_scopes(prompter.ask(
            f"Scopes (space or comma separated; blank: all of {owner}'s{held}): ",
            flag="--scopes", what="The scopes"), known), owner, owner_scopes))
    if args.pipes is None and ask:
        pipes_given, pipes = _ask(lambda: parse_pipes(prompter.ask(
            "Pipes it may reach (patterns like mqtt:garden/*/*, '*' any key, '-' no location; "
            "comma separated; blank: all): ", flag="--pipes", what="The pipes")))
    body: dict = {"user": owner}
    if pipes_given:
        body["pipes"] = pipes
    if label is not None:
        body["label"] = label
    if exp_given:
        body["expiration"] = iso(expiration)
    if scopes is not None:
        body["scopes"] = scopes
    if not args.yes and prompter.interactive:
        all_of = f"all of {owner}'s"
        when = (short_time(iso(expiration)) if expiration else "never") if exp_given \
            else f"in {default_days} days (the default)"
        sys.stderr.write(f"\n  Owner:      {owner}\n  Label:      {label or '(generated)'}\n"
                         f"  Expiration: {when}\n"
                         f"  Scopes:     {' '.join(scopes) if scopes else all_of}\n"
                         f"  Pipes:      {pipes_text(pipes) if pipes_given else 'all'}\n\n")
    if not prompter.confirm("Register this token?", default=True, yes=args.yes):
        raise CliError("Cancelled: nothing was registered.")
    out = run(ctx.conn.acreate_token(body))
    if args.json:
        print_json(out)
        return 0
    print(f"Registered token '{out['label']}' for {out['user']}.\n\n"
          f"  Client ID:     {out['id']}\n"
          f"  Client Secret: {out['secret']}\n"
          f"  API Key:       {out['api_key']}\n"
          f"  Expiration:    {short_time(out['expiration'], 'never')}\n"
          f"  Scopes:        {' '.join(out['scopes'])}\n"
          f"  Pipes:         {pipes_text(out['pipes'])}\n\n"
          "Copy the Client Secret and the API Key somewhere safe now: "
          "the secret will not be shown again.")
    return 0


_ask = retry  # ask again after a parse error, on a terminal


def _pipes_flag(args) -> tuple[bool, list[str] | None]:
    given, pipes = parse_pipes(args.pipes)
    if args.pipes is not None and not given:
        raise CliError("--pipes is empty: give patterns like 'mqtt:garden/*/*', or all.")
    return given, pipes


def _scopes_of(ctx: Context, owner: str) -> list[str] | None:
    """The scopes of another user, when the connector's user may list users (an admin);
    None when unknown, and the instance alone then judges the scopes asked for."""
    try:
        users = run(ctx.conn.alist_users())
    except InstanceError as err:
        if err.status in (401, 403):
            return None
        raise
    found = next((u for u in users if u["username"].lower() == owner.lower()), None)
    if found is None:
        raise CliError(f"There is no user '{owner}'.")
    return found["scopes"]


def _held(scopes: list[str] | None, owner: str, owner_scopes: list[str] | None):
    """The scopes, when the owner holds them all: refused here, before the confirmation,
    rather than by the instance after it (a token never holds more than its owner)."""
    if scopes is None or owner_scopes is None:
        return scopes
    lacking = [s for s in scopes if s not in owner_scopes]
    if lacking:
        # Worded as the instance's own refusal, then what may be asked instead.
        raise CliError(f"The token's owner does not hold: {' '.join(lacking)}. {owner} "
                       f"holds: {' '.join(owner_scopes) or '(no scope)'}.")
    return scopes


def _row(token: dict) -> list[str]:
    return [token["id"], token["label"], token["user"] or "(none)",
            ",".join(token["scopes"]) or "-", short_time(token["expiration"], "never"),
            short_time(token["last_used_at"], "never"),
            ",".join(token["pipes"]) if token["pipes"] is not None else "all",
            "yes" if token["is_valid"] else "no"]


def details(token: dict) -> str:
    lines = [("ID", token["id"]), ("Label", token["label"]), ("User", token["user"] or "(none)"),
             ("Scopes", " ".join(token["scopes"]) or "-"),
             ("Pipes", pipes_text(token["pipes"])),
             ("Expiration", short_time(token["expiration"], "never")),
             ("Created", short_time(token["created_at"])),
             ("Last used", short_time(token["last_used_at"], "never")),
             ("Valid", "yes" if token["is_valid"] else "no")]
    if token["invalidated_at"]:
        lines.append(("Invalidated", short_time(token["invalidated_at"])))
    if token.get("invalidated_reason"):
        lines.append(("Reason", token["invalidated_reason"]))
    if token.get("previous_secret_expires_at"):
        lines.append(("Old secret", "works until "
                      + short_time(token["previous_secret_expires_at"])))
    for number, source in enumerate(token.get("recent_sources") or (), start=1):
        lines.append(("Used from" if number == 1 else "",
                      f"{source['address']}  {short_time(source['last_seen_at'])}"))
    return "\n".join(f"  {name + ':' if name else '':<12} {value}" for name, value in lines)


def show(ctx: Context) -> int:
    args = ctx.args
    if len(ctx.rest) > 1:
        raise CliError("Give at most one token ID: mrsm show token ID.")
    if ctx.rest:
        token = run(ctx.conn.aget_token(ctx.token_id("show token")))
        print_json(token) if args.json else print(details(token))
        return 0
    before = None
    if args.expiring is not None:
        within = parse_duration(args.expiring, "--expiring")
        before = iso(datetime.now(UTC) + timedelta(seconds=within))
    page = run(ctx.conn.atoken_page(user=args.user, limit=args.limit, offset=args.offset,
                                    expires_before=before))
    if args.json:
        print_json(page)
        return 0
    if not page["items"]:
        soon = f" expiring within {args.expiring}" if args.expiring else ""
        print(f"No tokens{' for ' + args.user if args.user else ''}{soon}.")
        return 0
    print(table(["ID", "LABEL", "USER", "SCOPES", "EXPIRATION", "LAST USED", "PIPES", "VALID"],
                [_row(t) for t in page["items"]]))
    hint = more_hint(page)
    if hint:
        sys.stderr.write(hint + "\n")
    return 0


def edit(ctx: Context) -> int:
    args, prompter = ctx.args, ctx.prompter
    token_id = ctx.token_id("edit token")
    changes: dict = {}
    if args.label is not None:
        changes["label"] = args.label
    exp_given, expiration = expiration_from_flags(args.expires, args.ttl_days)
    if exp_given:
        changes["expiration"] = iso(expiration)
    if args.scopes is not None:
        changes["scopes"] = parse_scopes(args.scopes, _known_scopes(ctx))
        if changes["scopes"] is None:
            raise CliError("--scopes is empty: name at least one scope.")
    pipes_given, pipes = _pipes_flag(args)
    if pipes_given:
        changes["pipes"] = pipes
    if not changes:
        if not prompter.interactive:
            raise CliError("Nothing to change and there is no terminal to ask: "
                           "pass --label, --expires, --ttl-days, --scopes or --pipes.")
        changes = _ask_changes(ctx, run(ctx.conn.aget_token(token_id)))
        if not changes:
            print("Nothing changed.")
            return 0
    out = run(ctx.conn.aedit_token(token_id, changes))
    if args.json:
        print_json(out)
    else:
        print(f"Edited token '{out['label']}'.\n{details(out)}")
    return 0


def _ask_changes(ctx: Context, token: dict) -> dict:
    prompter, changes = ctx.prompter, {}
    label = prompter.ask(f"Label [{token['label']}]: ", flag="--label", what="The label")
    if label and label != token["label"]:
        changes["label"] = label
    current = short_time(token["expiration"], "never")
    given, expiration = _ask(lambda: parse_expiration(prompter.ask(
        f"Expiration [{current}] (a date, days like 30d, or none): ", flag="--expires",
        what="The expiration")))
    if given:
        changes["expiration"] = iso(expiration)
    known = _known_scopes(ctx)
    scopes = _ask(lambda: parse_scopes(prompter.ask(
        f"Scopes [{' '.join(token['scopes'])}]: ", flag="--scopes", what="The scopes"), known))
    if scopes is not None and set(scopes) != set(token["scopes"]):
        changes["scopes"] = scopes
    given, pipes = _ask(lambda: parse_pipes(prompter.ask(
        f"Pipes [{pipes_text(token['pipes'])}] (patterns, comma separated; all: every pipe): ",
        flag="--pipes", what="The pipes")))
    if given and pipes != token["pipes"]:
        changes["pipes"] = pipes
    return changes


def invalidate(ctx: Context) -> int:
    token = run(ctx.conn.aget_token(ctx.token_id("invalidate token")))
    owner = f" of {token['user']}" if token["user"] else ""
    # Asked as for deletion: an invalidated token never works again.
    if not ctx.prompter.confirm(f"Invalidate token '{token['label']}' ({token['id']}){owner}? "
                                "It stops working for good.", default=False, yes=ctx.args.yes):
        raise CliError("Cancelled: nothing was invalidated.")
    out = run(ctx.conn.ainvalidate_token(token["id"]))
    if ctx.args.json:
        print_json(out)
    else:
        print(f"Invalidated token '{out['label']}' ({out['id']}): it no longer works.")
    return 0


def delete(ctx: Context) -> int:
    token_id = ctx.token_id("delete token")
    token = run(ctx.conn.aget_token(token_id))
    owner = f" of {token['user']}" if token["user"] else ""
    if not ctx.prompter.confirm(f"Delete token '{token['label']}' ({token['id']}){owner} "
                                "permanently?", default=False, yes=ctx.args.yes):
        raise CliError("Cancelled: nothing was deleted.")
    run(ctx.conn.adelete_token(token["id"]))
    if not ctx.args.json:  # DELETE /tokens/{id} answers 204, no body: nothing to print
        print(f"Deleted token '{token['label']}' ({token['id']}).")
    return 0
