"""The README's Quickstart, run as written against a freshly started service."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from service.config import PROJECT_ROOT
from tests.support.servers import run_server

README = PROJECT_ROOT / "README.md"
START = "ADMIN_USERNAME=admin ADMIN_PASSWORD=change-me-please make run"


def quickstart() -> tuple[str, str]:
    """(the section's text, its shell block marked `<!-- quickstart: run -->`)."""
    text = README.read_text()
    section = text[text.index("## Quickstart"):]
    section = section[:section.index("\n## ", 1)]
    block = re.search(r"<!-- quickstart: run -->\n```sh\n(.*?)```", section, re.S)
    assert block is not None, "the Quickstart lost its marked shell block"
    return section, block.group(1)


def run_against_a_fresh_service(database_url: str, tmp_path, script: str,
                                admin_password: str) -> subprocess.CompletedProcess:
    """`script` (written for http://127.0.0.1:8000) under `bash -e -o pipefail`, in
    `tmp_path`, against a service started as the Quickstart starts it."""
    with run_server(database_url, ADMIN_USERNAME="admin",
                    ADMIN_PASSWORD=admin_password) as server:
        return subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c",
             script.replace("http://127.0.0.1:8000", server.base_url)],
            cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_the_quickstart_starts_the_service_the_way_the_test_does():
    section, _ = quickstart()
    assert f"```sh\n{START}\n```" in section


def test_the_quickstart_runs_verbatim(database_url, tmp_path):
    for tool in ("bash", "curl", "jq"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed to run the Quickstart (apt-get install {tool})")
    _, block = quickstart()
    done = run_against_a_fresh_service(database_url, tmp_path, block, "change-me-please")
    assert done.returncode == 0, done.stdout + done.stderr
    me = json.loads(done.stdout.strip().splitlines()[-1])
    assert me["username"] == "admin"
    assert me["token"]["label"] == "my-iot-device"
    assert me["scopes"] == ["read:pipes", "write:pipes"]
    token = json.loads((tmp_path / "token.json").read_text())
    assert token["api_key"].startswith("mrsm-key:")


def test_a_refused_step_stops_the_quickstart(database_url, tmp_path):
    # A wrong password must not run on with "null" as the bearer: the first step fails.
    _, block = quickstart()
    done = run_against_a_fresh_service(database_url, tmp_path, block, "another-password-1")
    assert done.returncode != 0
    assert "returned error: 400" in done.stderr
    assert "The username or password is wrong." in done.stderr  # the reason, not just a code
    assert not (tmp_path / "token.json").exists()


def test_a_devices_day_in_the_pipes_docs_runs_verbatim(database_url, tmp_path):
    text = (PROJECT_ROOT / "docs" / "pipes.md").read_text()
    blocks = re.findall(r"<!-- device-day: run -->\n```sh\n(.*?)```", text, re.S)
    assert len(blocks) == 3, "provision, write, read"
    script = "\n".join(blocks) + (
        '\ncurl -sS -o /dev/null -w "%{http_code}\\n" -X POST '
        '"$B/pipes/mqtt:garden/temperature/greenhouse.1/data" '
        '-H "Authorization: $READ_KEY" -H "Content-Type: application/json" -d "[]"\n')
    done = run_against_a_fresh_service(database_url, tmp_path, script, "change-me-please")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout.splitlines()
    assert json.loads(out[0]) == {"inserted": 1, "updated": 0}
    assert json.loads(out[1])["items"][0]["celsius"] == 21.5
    assert out[2:4] == ["timestamp,celsius,humidity", "2024-05-01T12:00:00Z,21.5,40"]
    assert out[-1] == "403"  # the read-only key cannot write
