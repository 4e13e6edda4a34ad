"""Rotating the signing key while two service processes serve JWTs of the old one (short
lifetimes, so the whole overlap fits in a test): the new key is published on both within a
second and before it signs; no JWT is refused before its exp; none of the old key is
accepted once that key is retired. And a revocation through one is refused by the other."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlencode

import asyncpg
import jwt
import pytest

from service.auth import keystore
from tests.support.attacks import stored_key
from tests.support.cli import base_env, run_mrsm
from tests.support.servers import Server, run_server

# They rotate, seal or change the signing keys: each starts and ends with fresh ones.
pytestmark = pytest.mark.usefixtures("fresh_signing_keys")

TTL = 4  # JWT_TTL_SECONDS: the pre-publication time is then keystore.MIN_PREPUBLISH
ADMIN = {"ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": "admin-password-1",
         "JWT_TTL_SECONDS": str(TTL)}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def login(server: Server) -> str:
    resp = server.request("POST", "/login", headers=FORM, body=urlencode(
        {"grant_type": "password", "username": "admin", "password": "admin-password-1"}))
    assert resp.status == 200, resp.body
    return resp.json()["access_token"]


def status(server: Server, token: str) -> int:
    return server.request("GET", "/users/me",
                          headers={"Authorization": f"Bearer {token}"}).status


def published(server: Server) -> set[str]:
    return {key["kid"] for key in server.request("GET", "/.well-known/jwks.json").json()["keys"]}


def times_of(database_url: str) -> dict[str, tuple[float, float | None]]:
    async def fetch():
        conn = await asyncpg.connect(database_url)
        try:
            return {r["kid"]: (r["signs_from"], r["retire_at"]) for r in await conn.fetch(
                "SELECT kid, extract(epoch FROM signs_from)::float8 AS signs_from, "
                "extract(epoch FROM retire_at)::float8 AS retire_at FROM signing_keys")}
        finally:
            await conn.close()
    return asyncio.run(fetch())


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def test_a_rotation_under_use_refuses_nothing_early_and_nothing_after_retirement(
        database_url, tmp_path):
    with run_server(database_url, **ADMIN) as a, run_server(database_url, **ADMIN) as b:
        servers = (a, b)
        old_jwt = login(a)
        old_kid = kid_of(old_jwt)
        assert published(a) == published(b) == {old_kid}
        # A JWT of the old key that outlives its key (as a stolen signing key would make):
        # accepted while the key is, refused once it is retired.
        key = asyncio.run(stored_key(database_url))
        outliving = key.forge({**jwt.decode(old_jwt, options={"verify_signature": False}),
                               "jti": "outliving", "exp": int(time.time()) + 3600})
        assert status(a, outliving) == status(b, outliving) == 200

        result = run_mrsm(["rotate", "signing-key", "--json"],
                          base_env(database_url, tmp_path / "absent.toml",
                                   JWT_TTL_SECONDS=str(TTL)))
        rotated = time.time()
        assert result.returncode == 0, result.stderr
        new_kid = json.loads(result.stdout)["kid"]
        signs_from, _ = times_of(database_url)[new_kid]
        _, retire_at = times_of(database_url)[old_kid]
        assert signs_from - rotated >= keystore.MIN_PREPUBLISH - 1  # published well before

        # Both processes publish the new key within a second of the rotation.
        for server in servers:
            while new_kid not in published(server):
                assert time.time() - rotated < 1.0, "the rotation was not heard within 1 s"
                time.sleep(0.02)
        assert published(a) == published(b) == {old_kid, new_kid}

        held: list[tuple[str, int]] = [(old_jwt, TTL)]
        turn = 0
        while time.time() < retire_at + 1.5:
            server = servers[turn % 2]
            turn += 1
            issued_at = time.time()
            token = login(server)
            exp = jwt.decode(token, options={"verify_signature": False})["exp"]
            # The new key signs only once its time has come; the old one until then.
            if issued_at < signs_from - 0.5:
                assert kid_of(token) == old_kid
            elif issued_at > signs_from + 0.5:
                assert kid_of(token) == new_kid
            held.append((token, exp))
            now = time.time()
            for token, exp in held:
                if exp - now > 0.5:  # well before its exp: must be accepted everywhere
                    assert status(a, token) == 200 and status(b, token) == 200, \
                        f"a JWT of {kid_of(token)} refused {exp - now:.1f} s before its exp"
            if now < retire_at - 0.5:
                assert status(a, outliving) == status(b, outliving) == 200
            time.sleep(0.2)

        # Retired: its JWTs are refused everywhere, and it is no longer published.
        assert status(a, outliving) == status(b, outliving) == 401
        assert published(a) == published(b) == {new_kid}
        assert {kid_of(t) for t, _ in held} == {old_kid, new_kid}


def test_a_jwt_revoked_through_one_process_is_refused_by_the_other(database_url):
    with run_server(database_url, **ADMIN) as a, run_server(database_url, **ADMIN) as b:
        token = login(a)
        assert status(a, token) == status(b, token) == 200  # both have it cached now
        admin = {"Authorization": f"Bearer {login(b)}", **FORM}
        resp = a.request("POST", "/revoke", headers=admin, body=urlencode({"token": token}))
        assert resp.status == 200 and resp.body == b""
        revoked = time.time()
        assert status(a, token) == 401
        while status(b, token) != 401:
            assert time.time() - revoked < 1.0, "the revocation was not heard within 1 s"
            time.sleep(0.02)
