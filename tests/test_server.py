"""Starting the service: the block a first start ends with."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request

from service.server import first_start
from tests.support.servers import run_server


def test_a_first_start_ends_with_the_url_the_admin_and_a_command_to_try(database_url,
                                                                         tmp_path):
    log = tmp_path / "service.log"
    with run_server(database_url, log=log, ADMIN_USERNAME=None, ADMIN_PASSWORD=None) as server:
        text = server.log()
        block = text[text.index("\nmrsm-tokens on "):]
        found = re.search(r"username '(admin)', password '([^']+)'", block)
        assert found, block
        username, password = found.groups()
        assert f"curl -sS {server.base_url}/login" in block
        assert f"--data-urlencode password='{password}'" in block
        # The block's password is the admin's: the command it suggests logs in.
        form = urllib.parse.urlencode({"grant_type": "password", "username": username,
                                       "password": password}).encode()
        with urllib.request.urlopen(server.base_url + "/login", form, timeout=5) as resp:
            assert json.load(resp)["token_type"] == "bearer"
    # No log line comes between the block's lines.
    lines = block.strip().splitlines()
    assert not any(line.startswith("{") for line in lines[:6]), lines


def test_a_later_start_names_no_password():
    assert first_start("http://127.0.0.1:8000", None) == "\nmrsm-tokens on http://127.0.0.1:8000\n"
    shown = first_start("http://h:1", ("admin", "s3cret-pw"))
    assert "password 's3cret-pw'" in shown
    assert "will not be shown again" in shown
