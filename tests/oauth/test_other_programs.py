"""Other people's code against a running service, each program in its own process and
knowing only the issuer URL (tests/oauth/programs): PyJWT's PyJWKClient and joserfc verify
our JWTs from the JWKS, before and after a key rotation; authlib's OAuth2 client gets a
token by client credentials, introspects it and revokes it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import asyncpg
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from service.auth import keystore
from service.config import Settings
from tests.support.servers import Server, free_port, run_server

# They rotate, seal or change the signing keys: each starts and ends with fresh ones.
pytestmark = pytest.mark.usefixtures("fresh_signing_keys")

PROGRAMS = Path(__file__).parent / "programs"
VERIFIERS = ("pyjwt_verify.py", "joserfc_verify.py")
TTL = 10  # JWT_TTL_SECONDS: the next key signs 10 s after a rotation
ADMIN = ("admin", "admin-password-1")


@pytest.fixture
def server(database_url) -> Server:
    port = free_port()
    with run_server(database_url, port=port, ISSUER_URL=f"http://127.0.0.1:{port}",
                    ADMIN_USERNAME=ADMIN[0], ADMIN_PASSWORD=ADMIN[1],
                    JWT_TTL_SECONDS=str(TTL)) as running:
        yield running


def run(program: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(PROGRAMS / program), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def results(*processes: subprocess.Popen) -> list[tuple[int, str]]:
    out = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=60)
        out.append((process.returncode, stdout.strip() or stderr.strip()))
    return out


def verified_everywhere(issuer: str, token: str) -> list[dict]:
    """The claims each verifier printed (they run at once); fails if any refused."""
    found = results(*(run(program, issuer, token) for program in VERIFIERS))
    for program, (code, output) in zip(VERIFIERS, found, strict=True):
        assert code == 0, f"{program}: {output}"
    return [json.loads(output) for _, output in found]


def refused_everywhere(issuer: str, token: str) -> None:
    found = results(*(run(program, issuer, token) for program in VERIFIERS))
    for program, (code, output) in zip(VERIFIERS, found, strict=True):
        assert code == 1 and output.startswith("refused"), f"{program}: {output}"


def rotate(database_url: str) -> str:
    async def go() -> str:
        conn = await asyncpg.connect(database_url)
        try:
            kid, _ = await keystore.rotate(conn, Settings(jwt_ttl_seconds=TTL))
            return kid
        finally:
            await conn.close()
    return asyncio.run(go())


def published(server: Server) -> set[str]:
    return {k["kid"] for k in server.request("GET", "/.well-known/jwks.json").json()["keys"]}


def test_jwks_verifiers_accept_our_jwts_across_a_rotation(server, database_url):
    issuer = server.base_url
    before = server.bearer()["Authorization"][7:]
    old_kid = jwt.get_unverified_header(before)["kid"]
    for claims in verified_everywhere(issuer, before):
        assert claims["iss"] == issuer and claims["aud"] == issuer and claims["scope"]

    new_kid = rotate(database_url)
    rotated = time.monotonic()
    while new_kid not in published(server):
        assert time.monotonic() - rotated < 1.0
        time.sleep(0.02)
    # During the overlap both keys are published: the JWT from before still verifies.
    assert published(server) == {old_kid, new_kid}
    verified_everywhere(issuer, before)

    # Once the next key signs, its JWTs verify too (a fresh JWKS fetch finds it).
    deadline = time.monotonic() + TTL + 10
    while True:
        after = server.bearer()["Authorization"][7:]
        if jwt.get_unverified_header(after)["kid"] == new_kid:
            break
        assert time.monotonic() < deadline, "the next key never started signing"
        time.sleep(0.25)
    verified_everywhere(issuer, after)

    # What they must refuse: a tampered JWT, and one under a kid the JWKS does not have.
    header, payload, signature = after.split(".")
    refused_everywhere(issuer, f"{header}.{payload}.{signature[:-4]}AAAA")
    foreign = jwt.encode(jwt.decode(after, options={"verify_signature": False}),
                         ed25519.Ed25519PrivateKey.generate(), algorithm="EdDSA",
                         headers={"kid": "not-ours", "typ": "at+jwt"})
    refused_everywhere(issuer, foreign)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_an_authlib_client_gets_introspects_and_revokes_a_token(server, method):
    admin = server.bearer()
    resp = server.json_request("POST", "/tokens", {"label": "authlib"}, admin)
    assert resp.status == 201, resp.body
    token = resp.json()
    [(code, output)] = results(run("authlib_client.py", server.base_url, token["id"],
                                   token["secret"], method))
    assert code == 0, output
    seen = json.loads(output)
    access_token = seen["token"]["access_token"]
    assert seen["token"]["token_type"] == "bearer"
    introspected = seen["introspected"]
    assert introspected["status"] == 200 and introspected["body"]["active"] is True
    assert introspected["body"]["client_id"] == token["id"]
    assert introspected["body"]["jti"] == jwt.decode(
        access_token, options={"verify_signature": False})["jti"]
    assert seen["revoked"] == {"status": 200, "body": ""}
    assert seen["after"] == {"status": 200, "body": {"active": False}}
    assert seen["bad_client"]["status"] == 401
    assert seen["bad_client"]["body"]["error"] == "invalid_client"
    # The revoked JWT is refused by the service itself too.
    resp = server.request("GET", "/users/me", headers={"Authorization": f"Bearer {access_token}"})
    assert resp.status == 401
    form = urlencode({"token": access_token})
    assert server.request("POST", "/introspect", body=form, headers={
        **admin, "Content-Type": "application/x-www-form-urlencoded"}).json() == {"active": False}
