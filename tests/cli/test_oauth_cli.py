"""`mrsm introspect TOKEN` (sql: and api:) and `mrsm rotate signing-key`."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from tests.support.cli import ROOT_PASSWORD

# They rotate, seal or change the signing keys: each starts and ends with fresh ones.
pytestmark = pytest.mark.usefixtures("fresh_signing_keys")


def register(cli, user: str = "alice") -> dict:
    result = cli("register", "token", "--user", user, "--yes", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def fields(stdout: str) -> dict[str, str]:
    return {name: value.strip() for name, _, value in
            (line.partition("  ") for line in stdout.splitlines())}


def test_introspect_an_api_key_on_the_database(cli, users):
    token = register(cli)
    result = cli("introspect", token["api_key"])
    assert result.returncode == 0, result.stderr
    shown = fields(result.stdout)
    assert shown["active"] == "yes" and shown["token_type"] == "api_key"
    assert shown["username"] == "alice" and shown["client_id"] == token["id"]
    as_json = json.loads(cli("introspect", token["api_key"], "--json").stdout)
    assert as_json["active"] is True and as_json["scope"] == " ".join(token["scopes"])


def test_what_is_not_active_exits_1(cli, users):
    token = register(cli)
    assert cli("invalidate", "token", token["id"], "--yes").returncode == 0
    for dead in (token["api_key"], "not-a-token", "a.b.c"):
        result = cli("introspect", dead)
        assert result.returncode == 1 and fields(result.stdout) == {"active": "no"}
        assert json.loads(cli("introspect", dead, "--json").stdout) == {"active": False}
    result = cli("introspect")
    assert result.returncode == 1 and "mrsm introspect TOKEN" in result.stderr


def test_introspect_over_http_as_an_admin_or_as_a_client(cli, users, as_user, mrsm):
    token = register(cli)
    root = as_user("root", ROOT_PASSWORD)
    result = mrsm("introspect", token["api_key"], "-i", "api:main", **root)
    assert result.returncode == 0, result.stderr
    assert fields(result.stdout)["username"] == "alice"
    # As the client itself (client credentials in the environment).
    env = {"MRSM_API_URL": as_user("alice")["MRSM_API_URL"], "MRSM_API_CLIENT_ID": token["id"],
           "MRSM_API_CLIENT_SECRET": token["secret"]}
    result = mrsm("introspect", token["api_key"], "-i", "api:main", **env)
    assert result.returncode == 0 and fields(result.stdout)["client_id"] == token["id"]
    # A user's own password is not a client credential here.
    result = mrsm("introspect", token["api_key"], "-i", "api:main", **as_user("alice"))
    assert result.returncode == 1 and "admin" in result.error_line


def test_rotate_signing_key(cli, users, as_user, database_url):
    async def kids() -> list[str]:
        conn = await asyncpg.connect(database_url)
        try:
            return [r["kid"] for r in await conn.fetch(
                "SELECT kid FROM signing_keys ORDER BY signs_from")]
        finally:
            await conn.close()

    # Tests start with no key at all: the first one signs at once, the next after 900 s.
    for delay in (0, 900):
        result = cli("rotate", "signing-key")
        assert result.returncode == 0, result.stderr
        kid = asyncio.run(kids())[-1]
        assert f"Signing key {kid} published; it signs in {delay} s" in result.stdout
    root = as_user("root", ROOT_PASSWORD)
    result = cli("rotate", "signing-key", "-i", "api:main", **root)
    assert result.returncode == 1 and "sql:" in result.error_line
    assert cli("rotate", "keys").returncode == 1
