"""docs/oauth.md's downstream verifier, run as written in a process of its own against a
running service."""

from __future__ import annotations

import re
import subprocess
import sys
from urllib.parse import urlencode

from service.config import PROJECT_ROOT
from tests.support.servers import free_port, run_server

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def snippet() -> str:
    text = (PROJECT_ROOT / "docs" / "oauth.md").read_text()
    block = re.search(r"<!-- oauth: run -->\n```python\n(.*?)```", text, re.S)
    assert block is not None, "docs/oauth.md lost its marked Python block"
    return block.group(1)


def test_the_downstream_verifier_of_the_docs_runs_verbatim(database_url, tmp_path):
    script = tmp_path / "verify.py"
    script.write_text(snippet())
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    with run_server(database_url, port=port, ISSUER_URL=issuer, ADMIN_USERNAME="admin",
                    ADMIN_PASSWORD="admin-password-1") as server:
        me = server.request("GET", "/users/me", headers=server.bearer()).json()

        def token(scope: str) -> str:
            resp = server.request("POST", "/login", headers=FORM, body=urlencode({
                "grant_type": "password", "username": "admin",
                "password": "admin-password-1", "scope": scope}))
            assert resp.status == 200, resp.body
            return resp.json()["access_token"]

        def verify(access_token: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, str(script), access_token],
                                  env={"MRSM_ISSUER": issuer, "PATH": "/usr/bin:/bin"},
                                  capture_output=True, text=True, timeout=60)

        done = verify(token("read:pipes write:pipes"))
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"user {me['id']} may read pipes\n"
        narrow = verify(token("write:pipes"))
        assert narrow.returncode == 1 and "lacks read:pipes" in narrow.stderr
        good = token("read:pipes")
        tampered = verify(good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"))
        assert tampered.returncode == 1 and tampered.stderr.startswith("refused:")
