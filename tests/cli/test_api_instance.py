"""`--instance api:main`: the same commands over HTTP against a running service."""

from __future__ import annotations

import json
import time

from service.auth.apikeys import make_api_key
from tests.support.cli import ROOT_PASSWORD
from tests.support.servers import free_port, status_of


def test_register_token_skips_the_owner_prompt(mrsm_tty, cli, users, as_user, api_server):
    result = mrsm_tty(["register", "token", "-i", "api:main"],
                      ["thermo", "", "read:pipes", "", "y"], **as_user("alice"))
    assert result.returncode == 0, result.stderr
    assert "Owner (name or number)" not in result.stderr and "Users:" not in result.stderr
    assert result.stderr.index("Label") < result.stderr.index("Expiration") \
        < result.stderr.index("Scopes") < result.stderr.index("Register this token? [Y/n]")
    assert "all of alice's: read:pipes write:pipes" in result.stderr
    assert "Registered token 'thermo' for alice." in result.stdout
    [token] = json.loads(cli("show", "tokens", "--json").stdout)["items"]
    assert (token["label"], token["user"], token["scopes"]) == ("thermo", "alice",
                                                               ["read:pipes"])
    fields = {name.strip(): value.strip() for name, _, value in
              (line.partition(": ") for line in result.stdout.splitlines()) if value}
    assert fields["API Key"] == make_api_key(fields["Client ID"], fields["Client Secret"])
    assert status_of(api_server.base_url, fields["API Key"]) == 200
    # The service records the use (flushed every second here); the table shows it.
    deadline = time.monotonic() + 10
    while True:
        [row] = cli("show", "tokens").stdout.splitlines()[1:]
        if "never" not in row.split("UTC")[-1]:
            break
        assert time.monotonic() < deadline, row
        time.sleep(0.2)
    assert row.split()[-1] == "yes" and row.count("UTC") == 2  # expiration and last used


def test_a_user_sees_their_own_tokens_an_admin_sees_all(cli, users, as_user):
    for owner in ("alice", "bob"):
        made = cli("register", "token", "--user", owner, "--label", f"{owner}-t", "--yes")
        assert made.returncode == 0, made.stderr
    orphan_owner = cli("register", "token", "--user", "bob", "--label", "orphan", "--yes")
    assert orphan_owner.returncode == 0
    assert cli("delete", "user", "bob", "--yes").returncode == 0
    as_alice = cli("show", "tokens", "--json", "-i", "api:main", **as_user("alice"))
    assert as_alice.returncode == 0, as_alice.stderr
    assert [t["label"] for t in json.loads(as_alice.stdout)["items"]] == ["alice-t"]
    as_root = cli("show", "tokens", "--json", "-i", "api:main",
                  **as_user("root", ROOT_PASSWORD))
    assert {t["label"] for t in json.loads(as_root.stdout)["items"]} == \
        {"alice-t", "bob-t", "orphan"}
    # The same JSON as the sql: instance prints.
    assert json.loads(as_root.stdout) == json.loads(cli("show", "tokens", "--json").stdout)


def test_manage_a_token_over_http(cli, users, as_user):
    env = as_user("alice")
    made = cli("register", "token", "--label", "dev", "--yes", "--json", "-i", "api:main", **env)
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)
    assert token["user"] == "alice"
    edited = cli("edit", "token", token["id"], "--scopes", "read:pipes", "--expires", "none",
                 "--json", "-i", "api:main", **env)
    assert edited.returncode == 0, edited.stderr
    assert json.loads(edited.stdout)["scopes"] == ["read:pipes"]
    assert json.loads(edited.stdout)["expiration"] is None
    invalidated = cli("invalidate", "token", token["id"], "--json", "--yes", "-i", "api:main",
                      **env)
    assert json.loads(invalidated.stdout)["is_valid"] is False
    deleted = cli("delete", "token", token["id"], "--yes", "-i", "api:main", **env)
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(cli("show", "tokens", "--json").stdout)["items"] == []


def test_users_over_http_need_an_admin(cli, users, as_user):
    root = as_user("root", ROOT_PASSWORD)
    made = cli("register", "user", "carol", "--password", "carol-password-1", "-i", "api:main",
               **root)
    assert made.returncode == 0, made.stderr
    listed = json.loads(cli("show", "users", "--json", "-i", "api:main", **root).stdout)
    assert [u["username"] for u in listed["items"]] == ["alice", "bob", "carol", "root"]
    refused = cli("show", "users", "-i", "api:main", **as_user("alice"))
    assert refused.returncode == 1
    assert refused.error_line == ("mrsm: This credential lacks the scope this route needs: "
                                  "read:users.")
    assert cli("delete", "user", "carol", "--yes", "-i", "api:main", **root).returncode == 0


def test_credentials_from_an_api_key_client_credentials_or_a_config_file(
        cli, users, as_user, api_server, tmp_path):
    token = json.loads(cli("register", "token", "--user", "alice", "--label", "k", "--yes",
                           "--json").stdout)
    by_key = cli("show", "tokens", "--json", "-i", "api:main", MRSM_API_URL=api_server.base_url,
                 MRSM_API_KEY=token["api_key"])
    assert by_key.returncode == 0, by_key.stderr
    assert json.loads(by_key.stdout)["total"] == 1
    by_client = cli("show", "tokens", "--json", "-i", "api:main", MRSM_API_URL=api_server.base_url,
                    MRSM_API_CLIENT_ID=token["id"], MRSM_API_CLIENT_SECRET=token["secret"])
    assert by_client.returncode == 0, by_client.stderr
    config = tmp_path / "config.toml"
    config.write_text(f'[api.lab]\nurl = "{api_server.base_url}"\nusername = "alice"\n'
                      f'password = "user-password-1"\n')
    by_file = cli("show", "tokens", "--json", "-i", "api:lab", MRSM_CONFIG=str(config))
    assert by_file.returncode == 0, by_file.stderr
    assert json.loads(by_file.stdout)["items"][0]["id"] == token["id"]


def test_api_failures_are_one_line(cli, users, as_user, api_server, tmp_path):
    cases = [
        ({**as_user("alice", "wrong-password")},
         "mrsm: Login failed: The username or password is wrong."),
        ({"MRSM_API_URL": api_server.base_url},
         "mrsm: api:main has no credentials: set MRSM_API_KEY"),
        ({"MRSM_API_USERNAME": "alice"}, "mrsm: api:main has no URL: set MRSM_API_URL"),
        ({**as_user("alice"), "MRSM_API_URL": f"http://127.0.0.1:{free_port()}"},
         "mrsm: Cannot reach http://127.0.0.1:"),
        ({"MRSM_API_URL": api_server.base_url, "MRSM_API_KEY": "mrsm-key:bm90LWEta2V5"},
         "mrsm: The credential is invalid, expired or revoked."),
        ({**as_user("alice"), "MRSM_API_URL": api_server.base_url.removeprefix("http://")},
         "mrsm: api:main: the URL must start with http:// or https://"),
    ]
    for env, message in cases:
        result = cli("show", "tokens", "-i", "api:main", **env)
        assert result.returncode == 1, env
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.error_line.startswith(message), (env, result.stderr)
    not_admin = cli("register", "token", "--user", "bob", "--yes", "-i", "api:main",
                    **as_user("alice"))
    assert not_admin.error_line == "mrsm: Only an admin may register a token for another user."
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text("[api.main\n")
    broken = cli("show", "tokens", "-i", "api:main", MRSM_CONFIG=str(bad_file))
    assert broken.error_line.startswith(f"mrsm: Cannot read the config file {bad_file}:")


def test_a_token_invalidated_on_sql_stops_working_on_the_service(cli, users, api_server):
    token = json.loads(cli("register", "token", "--user", "alice", "--yes", "--json").stdout)
    assert status_of(api_server.base_url, token["api_key"]) == 200
    assert cli("invalidate", "token", token["id"], "--yes").returncode == 0
    deadline = time.monotonic() + 5  # a cache may hold it until the database says otherwise
    while status_of(api_server.base_url, token["api_key"]) != 401:
        assert time.monotonic() < deadline, "the service still accepts an invalidated token"
        time.sleep(0.05)
