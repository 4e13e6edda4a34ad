"""schemathesis against /openapi.json of a live server: no 500, every answer as documented.

Bounded for CI: a fixed seed (FUZZ_SEED overrides it), FUZZ_EXAMPLES cases per operation
and a time budget per run. The stateful phase is left out, and two routes get a run of
their own, for one reason: schemathesis learns values from responses (a username from
GET /users), so it soon changes the fuzzing admin's own password or demotes it, after
which every request is a 401 and nothing more is tested.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
])
# The two routes that could take the fuzzing admin's own account away (a new password
# ends its bearer, a demotion its admin scopes) are fuzzed in a run of their own, where
# the admin's (random) name is never shown: GET /users would tell it.
ACCOUNT_ROUTES = r"^/users/\{username\}$"
# PATCH /users/me answers a generated (wrong) current password with 403 and, after a few,
# 429 (it counts as a failed login): whether any case reaches something else depends on
# how many cases the time budget lets through, so it has a run of its own where a run
# of only refusals is no failure.
OWN_PASSWORD = "PATCH /users/me"


def run_schemathesis(database_url, start_service, tmp_path, filters: list[str],
                     budget: int, *, refusals_only_is_ok: bool = False) -> None:
    username = f"fuzz-admin-{secrets.token_hex(6)}"
    password = secrets.token_urlsafe(18)
    service = start_service(database_url, ADMIN_USERNAME=username, ADMIN_PASSWORD=password,
                            ACCESS_LOG="0")
    bearer = service.bearer(username, password)["Authorization"]
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "run",
        f"http://127.0.0.1:{service.port}/openapi.json",
        "--header", f"Authorization: {bearer}",
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", os.environ.get("FUZZ_EXAMPLES", "15"),
        "--seed", os.environ.get("FUZZ_SEED", "20261127"),
        "--max-time", str(budget),
        "--workers", "1",  # hypothesis' lambda introspection is not thread-safe on 3.11
        "--request-timeout", "10",
        "--output-sanitize", "true",
        "--no-color",
        *(["--warnings", "off"] if refusals_only_is_ok else []),
        *filters,
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                            timeout=budget + 60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    assert "Tested:" in output
    if not refusals_only_is_ok:
        # The admin's bearer held to the end: the operations were reached, not just refused.
        assert "Authentication failed" not in output, output[-5000:]
    # The server survived the run and logged no unhandled error.
    assert service.request("GET", "/healthz").status == 200
    assert "unhandled error" not in service.log()


def test_fuzz_every_route(database_url, start_service, tmp_path):
    run_schemathesis(database_url, start_service, tmp_path,
                     ["--exclude-path-regex", ACCOUNT_ROUTES, "--exclude-name", OWN_PASSWORD],
                     budget=50)


def test_fuzz_changing_ones_own_password(database_url, start_service, tmp_path):
    run_schemathesis(database_url, start_service, tmp_path, ["--include-name", OWN_PASSWORD],
                     budget=10, refusals_only_is_ok=True)


def test_fuzz_changing_and_deleting_users(database_url, start_service, tmp_path):
    run_schemathesis(database_url, start_service, tmp_path,
                     ["--include-path-regex", r"^/users(/\{username\})?$",
                      "--exclude-method", "GET"], budget=15)
