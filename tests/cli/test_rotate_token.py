"""`mrsm rotate token`, `show tokens --expiring`, and a token's recent sources."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from tests.support.servers import status_of


def _register(cli, user: str, label: str, *flags: str) -> dict:
    result = cli("register", "token", "--user", user, "--label", label, "--yes", "--json",
                 *flags)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _field(stdout: str, name: str) -> str:
    line = next(line for line in stdout.splitlines() if line.strip().startswith(name + ":"))
    return line.split(":", 1)[1].strip()


def test_rotate_on_a_terminal_asks_then_prints_the_new_secret_once(mrsm_tty, cli, users,
                                                                   api_server):
    token = _register(cli, "alice", "fleet")
    result = mrsm_tty(["rotate", "token", token["id"][:8], "--overlap", "30m"], ["y"])
    assert result.returncode == 0, result.stderr
    assert "keeps working for 30 minutes" in result.stderr and "[Y/n]" in result.stderr
    secret, api_key = _field(result.stdout, "Client Secret"), _field(result.stdout, "API Key")
    assert secret != token["secret"] and api_key.startswith("mrsm-key:")
    assert "works until" in _field(result.stdout, "Previous secret")
    assert status_of(api_server.base_url, api_key) == 200
    assert status_of(api_server.base_url, token["api_key"]) == 200  # the overlap
    shown = cli("show", "token", token["id"])
    assert secret not in shown.stdout and "Old secret:" in shown.stdout


def test_rotate_without_overlap_defaults_to_no_and_ends_the_old_key(mrsm_tty, cli, users,
                                                                     api_server):
    token = _register(cli, "alice", "stolen")
    refused = mrsm_tty(["rotate", "token", token["id"], "--overlap", "0"], [""])
    assert refused.returncode == 1 and "[y/N]" in refused.stderr
    assert "stops working now" in refused.stderr
    assert "Cancelled: nothing was rotated." in refused.stderr
    assert status_of(api_server.base_url, token["api_key"]) == 200
    done = mrsm_tty(["rotate", "token", token["id"], "--overlap", "0"], ["yes"])
    assert done.returncode == 0, done.stderr
    assert status_of(api_server.base_url, token["api_key"]) == 401
    assert status_of(api_server.base_url, _field(done.stdout, "API Key")) == 200
    assert "no longer works" in _field(done.stdout, "Previous secret")


def test_rotate_on_an_api_instance_with_yes(mrsm, cli, users, as_user, api_server):
    token = _register(cli, "alice", "remote")
    result = mrsm("rotate", "token", token["id"], "--overlap", "2d", "--yes", "--json",
                  "--instance", "api:main", **as_user("alice"))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    left = datetime.fromisoformat(out["previous_secret_expires_at"]) - datetime.now(UTC)
    assert timedelta(days=1, hours=23) < left <= timedelta(days=2)
    assert status_of(api_server.base_url, out["api_key"]) == 200
    # Bob may not rotate alice's token: the instance says there is no such token.
    other = mrsm("rotate", "token", token["id"], "--yes", "--instance", "api:main",
                 **as_user("bob"))
    assert other.returncode == 1 and "No such token" in other.error_line


def test_rotate_refusals(cli, users):
    token = _register(cli, "alice", "x")
    for flags, says in ((["--overlap", "soon"], "--overlap takes a duration"),
                        (["--overlap", "31d"], "overlap_seconds"),
                        (["--overlap=-1h"], "--overlap takes a duration")):
        result = cli("rotate", "token", token["id"], "--yes", *flags)
        assert result.returncode == 1 and says in result.stderr, result.stderr
    result = cli("rotate", "token", "--yes")
    assert result.returncode == 1 and "Give one token ID" in result.stderr
    # Without a terminal and without --yes, nothing is rotated.
    result = cli("rotate", "token", token["id"])
    assert result.returncode == 1 and "--yes" in result.stderr


def test_show_tokens_expiring(mrsm, cli, users):
    soon = _register(cli, "alice", "soon", "--expires", "3d")
    _register(cli, "alice", "later", "--expires", "30d")
    _register(cli, "alice", "never", "--expires", "none")
    result = mrsm("show", "tokens", "--expiring", "7d")
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[1:]
    assert [r.split()[0] for r in rows] == [soon["id"]]
    none = mrsm("show", "tokens", "--expiring", "1d")
    assert none.returncode == 0 and none.stdout.strip() == "No tokens expiring within 1d."
    bad = mrsm("show", "tokens", "--expiring", "week")
    assert bad.returncode == 1 and "--expiring takes a duration" in bad.error_line


async def test_show_token_lists_its_recent_sources(cli, users, database_url):
    token = _register(cli, "alice", "seen")
    sources = [{"address": "203.0.113.7", "last_seen_at": "2026-11-30T10:00:00+00:00"},
               {"address": "2001:db8::5", "last_seen_at": "2026-11-29T09:00:00+00:00"}]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE tokens SET recent_sources = $2::text::jsonb WHERE id = $1",
                           uuid.UUID(token["id"]), json.dumps(sources))
    finally:
        await conn.close()
    result = cli("show", "token", token["id"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "Used from:" in line)
    assert lines[start].split()[-4:] == ["203.0.113.7", "2026-11-30", "10:00", "UTC"]
    assert lines[start + 1].split() == ["2001:db8::5", "2026-11-29", "09:00", "UTC"]
