"""The examples/ scripts (the seed's four Python examples) against both instance kinds."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from service.config import PROJECT_ROOT
from service.sdk.sql import SQLConnector
from tests.support.cli import add_user, base_env

EXAMPLES = PROJECT_ROOT / "examples"


def _run(script: str, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], env=env,
                          capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""  # no warning, no leak, no trace
    return proc.stdout


async def _tokens(database_url: str) -> list[dict]:
    return await SQLConnector(database_url=database_url).alist_tokens()


@pytest.mark.parametrize("instance", ["sql:main", "api:main"])
async def test_the_four_examples_in_order(instance, database_url, api_server, tmp_path):
    await add_user(database_url, "myuser", "myuser-password-1")
    env = base_env(database_url, tmp_path / "absent.toml", MRSM_API_URL=api_server.base_url,
                   MRSM_API_USERNAME="myuser", MRSM_API_PASSWORD="myuser-password-1")

    out = _run("01_create_token.py", env, instance)
    lines = dict(line.strip().split(": ", 1) for line in out.splitlines()[1:])
    assert out.startswith("Successfully registered token 'my-iot-device'\n")
    [token] = await _tokens(database_url)
    assert token["id"] == lines["Client ID"] and token["user"] == "myuser"
    assert lines["API Key"].startswith("mrsm-key:")

    out = _run("02_fetch_tokens.py", env, instance)
    assert out.startswith(f"Token 'my-iot-device' ({token['id']}), user myuser, scopes: ")
    assert lines["Client Secret"] not in out
    assert out.endswith(f"1 token(s) of myuser on {instance}\n")

    out = _run("03_edit_token.py", env, instance)
    assert f"Edited token 'my-iot-device' ({token['id']})." in out
    [edited] = await _tokens(database_url)
    assert edited["scopes"] == ["read:pipes", "write:pipes"]
    assert datetime.fromisoformat(edited["expiration"]) == \
        datetime.fromisoformat(token["expiration"]) + timedelta(days=30)

    out = _run("04_invalidate_and_delete_token.py", env, instance)
    assert out.splitlines()[0] == f"Invalidated token 'my-iot-device' ({token['id']})."
    assert out.splitlines()[1].endswith("; invalidated")
    assert out.splitlines()[2] == f"Deleted token 'my-iot-device' ({token['id']})."
    assert await _tokens(database_url) == []


async def test_the_seed_page_code_runs_unchanged_but_for_its_imports(database_url, tmp_path):
    await add_user(database_url, "myuser", "myuser-password-1")
    env = base_env(database_url, tmp_path / "absent.toml")
    out = _run("seed_page.py", env)
    assert out.startswith("Successfully registered token 'my-iot-device'\n")
    assert "  API Key: mrsm-key:" in out
    assert await _tokens(database_url) == []  # the last step deleted it


README_BLOCK = "<!-- python: run -->\n```python\n"  # the example of docs/python.md


def _readme_python(marker: str = README_BLOCK) -> str:
    text = (PROJECT_ROOT / "docs" / "python.md").read_text()
    start = text.index(marker) + len(marker)
    return text[start:text.index("```", start)]


@pytest.mark.parametrize("runs", [1, 2])
async def test_the_python_docs_example_runs_as_written(database_url, tmp_path, runs):
    # On an empty database it makes the user it needs; run again, it says the name is taken
    # and goes on. Every step's message is printed; none fails.
    script = tmp_path / "readme_example.py"
    script.write_text(_readme_python())
    env = base_env(database_url, tmp_path / "absent.toml")
    for run in range(runs):
        lines = _run(str(script), env).splitlines()
        assert lines[0] == ("Registered user 'myuser'." if run == 0
                            else "The username 'myuser' is taken.")
        assert lines[1].startswith("Registered token 'my-iot-device'")
        assert "mrsm-key:" in lines[2]
        assert [line.split(" ", 1)[0] for line in lines[3:]] == ["Edited", "Invalidated",
                                                                 "Deleted"]
    assert await _tokens(database_url) == []


PIPES_BLOCK = "<!-- python-pipes: run -->\n```python\n"  # the Pipe example of docs/python.md


@pytest.mark.parametrize("instance", ["sql:main", "api:main"])
async def test_the_pipe_docs_example_runs_as_written(instance, database_url, api_server,
                                                     tmp_path):
    await add_user(database_url, "myuser", "myuser-password-1")
    script = tmp_path / "pipes_example.py"
    script.write_text(_readme_python(PIPES_BLOCK).replace("'sql:main'", f"'{instance}'"))
    env = base_env(database_url, tmp_path / "absent.toml", MRSM_API_URL=api_server.base_url,
                   MRSM_API_USERNAME="myuser", MRSM_API_PASSWORD="myuser-password-1")
    name = "mqtt:garden/temperature/greenhouse.1"
    assert _run(str(script), env).splitlines() == [
        f"Registered pipe {name}.",
        "Inserted 2, updated 0 rows.",
        "Inserted 1, updated 1 rows.",
        f"Edited pipe {name}.",
        "2024-05-01T12:01:00+00:00 21.7",
        "2024-05-01T12:02:00+00:00 21.9",
        "2 ['timestamp', 'celsius', 'humidity']",
        f"['{name}']",
        f"Deleted pipe {name}.",
    ]
    assert await SQLConnector(database_url=database_url).alist_pipes() == []


def test_an_example_says_why_it_is_refused(database_url, tmp_path):
    env = base_env(database_url, tmp_path / "absent.toml")  # and no user 'myuser'
    proc = subprocess.run([sys.executable, str(EXAMPLES / "01_create_token.py")], env=env,
                          capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 1
    assert proc.stdout == "There is no user 'myuser'.\n"
    assert proc.stderr == ""
