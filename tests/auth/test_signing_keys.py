"""Key pairs in the database (service.auth.keystore): one made however many processes start
at once, rotation with overlap, the automatic rotation, sealing at rest."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from cryptography.hazmat.primitives import serialization

from service.app import create_app
from service.auth import keystore
from service.auth.signing import KeyRing, SealError
from tests.support.api import ADMIN_PASSWORD
from tests.support.servers import run_server

# They rotate, seal or change the signing keys: each starts and ends with fresh ones.
pytestmark = pytest.mark.usefixtures("fresh_signing_keys")

KEK = "key-encryption-key-for-the-tests-" + "k" * 16


@pytest.fixture
async def db(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def rows(db) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT kid, alg, encrypted, private_key, extract(epoch FROM published_at) AS pub, "
        "extract(epoch FROM signs_from) AS signs, extract(epoch FROM retire_at) AS retire "
        "FROM signing_keys ORDER BY signs_from")


async def test_processes_starting_at_once_make_one_key(settings, database_url, db):
    conns = [await asyncpg.connect(database_url) for _ in range(6)]
    try:
        await asyncio.gather(*(keystore.ensure(conn, settings) for conn in conns))
    finally:
        for conn in conns:
            await conn.close()
    (key,) = await rows(db)
    assert key["alg"] == "EdDSA" and key["retire"] is None
    assert key["signs"] == key["pub"]  # the first key signs at once: nobody holds a JWT yet


async def test_a_rotation_publishes_first_and_retires_after_the_last_jwt(settings, db):
    await keystore.ensure(db, settings)
    kid, delay = await keystore.rotate(db, settings)
    old, new = await rows(db)
    assert new["kid"] == kid and new["retire"] is None
    prepublish = keystore.prepublish_seconds(settings)
    assert delay == prepublish >= settings.jwt_ttl_seconds
    assert float(new["signs"] - new["pub"]) == pytest.approx(prepublish, abs=0.01)
    assert float(old["retire"] - new["signs"]) == pytest.approx(
        settings.jwt_ttl_seconds + keystore.CLOCK_SKEW, abs=0.01)
    ring_keys = await keystore.load(db, settings)
    assert {k.kid for k in ring_keys} == {old["kid"], new["kid"]}


async def test_the_automatic_rotation_comes_when_it_is_due(make_settings, db):
    settings = make_settings(jwt_key_rotation_days=90)
    await keystore.ensure(db, settings)
    await keystore.ensure(db, settings)
    assert len(await rows(db)) == 1  # not due
    await db.execute("UPDATE signing_keys SET published_at = now() - interval '91 days', "
                     "signs_from = now() - interval '91 days'")
    await keystore.ensure(db, make_settings(jwt_key_rotation_days=0))
    assert len(await rows(db)) == 1  # 0: never
    await keystore.ensure(db, settings)
    old, new = await rows(db)
    assert old["retire"] is not None and new["retire"] is None
    await keystore.ensure(db, settings)
    assert len(await rows(db)) == 2  # the next key is the newest now: not due again


async def test_changing_the_algorithm_rotates_with_the_same_overlap(make_settings, db):
    await keystore.ensure(db, make_settings())
    await keystore.ensure(db, make_settings(jwt_algorithm="ES256"))
    old, new = await rows(db)
    assert (old["alg"], new["alg"]) == ("EdDSA", "ES256") and old["retire"] is not None


async def test_hs256_has_no_key_pairs_to_rotate(make_settings, db):
    with pytest.raises(ValueError, match="JWT_SECRET"):
        await keystore.rotate(db, make_settings(jwt_algorithm="HS256"))


async def test_retired_keys_are_deleted(settings, db):
    await keystore.ensure(db, settings)
    await keystore.rotate(db, settings)
    await db.execute("UPDATE signing_keys SET retire_at = signs_from WHERE retire_at IS NOT NULL")
    await keystore.ensure(db, settings)
    assert len(await rows(db)) == 1


async def test_with_a_key_encryption_key_the_private_key_is_sealed_at_rest(
        aiohttp_client, api, make_settings, db):
    await keystore.ensure(db, make_settings())  # made before KEY_ENCRYPTION_KEY was set
    (plain,) = await rows(db)
    assert not plain["encrypted"]
    serialization.load_der_private_key(bytes(plain["private_key"]), None)
    settings = make_settings(key_encryption_key=KEK)
    client = await aiohttp_client(create_app(settings))
    (sealed,) = await rows(db)
    assert sealed["encrypted"] and sealed["kid"] == plain["kid"]
    assert bytes(plain["private_key"]) not in bytes(sealed["private_key"])
    with pytest.raises(ValueError):
        serialization.load_der_private_key(bytes(sealed["private_key"]), None)
    await keystore.rotate(db, settings)
    assert all(row["encrypted"] for row in await rows(db))
    await api.create_user("admin", ADMIN_PASSWORD, type_="admin")
    resp = await client.post("/login", data={"grant_type": "password", "username": "admin",
                                             "password": ADMIN_PASSWORD})
    assert resp.status == 200  # it signs with the sealed key


async def test_sealed_keys_refuse_a_start_without_their_key(make_settings, db):
    await keystore.ensure(db, make_settings(key_encryption_key=KEK))
    for kek in (None, "another-key-encryption-key-" + "x" * 16):
        with pytest.raises(SealError):
            await keystore.load(db, make_settings(key_encryption_key=kek), strict=True)
    # A process that does not serve it still verifies with the public part.
    (key,) = await keystore.load(db, make_settings())
    assert key.private is None and key.verify_key is not None


def test_the_service_says_so_and_exits_without_the_key(database_url, tmp_path):
    async def seal():
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("DELETE FROM signing_keys")
            from service.config import Settings
            await keystore.ensure(conn, Settings(key_encryption_key=KEK))
        finally:
            await conn.close()

    asyncio.run(seal())
    log = tmp_path / "out.log"
    with pytest.raises(RuntimeError, match="exited with 2"):
        with run_server(database_url, log=log, KEY_ENCRYPTION_KEY=None):
            pass
    assert "configuration error: the signing keys are encrypted: set KEY_ENCRYPTION_KEY" \
        in log.read_text()


async def test_deleting_the_signing_key_before_its_successor_signs_promotes_it(settings, db):
    """A leaked key's row deleted right after `mrsm rotate`: the next key signs at once."""
    await keystore.ensure(db, settings)
    (leaked,) = await rows(db)
    kid, _ = await keystore.rotate(db, settings)
    await db.execute("DELETE FROM signing_keys WHERE kid = $1", leaked["kid"])
    await keystore.ensure(db, settings)
    (promoted,) = await rows(db)
    assert promoted["kid"] == kid and promoted["signs"] <= promoted["pub"] + 1
    ring = KeyRing(await keystore.load(db, settings))
    assert ring.signing(time.time()).kid == kid
