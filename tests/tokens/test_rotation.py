"""Rotation: a new secret, the previous one kept for the overlap, then ended."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.support.assertions import assert_error, assert_token_shape, connect, parse_time

ROTATED = "Mrsm-Token-Rotated"
EXPIRES = "Mrsm-Token-Expires"


async def rotate(api, headers, token_id, body=None):
    kwargs = {"json": body} if body is not None else {}
    return await api.client.post(f"/tokens/{token_id}/rotate", headers=headers, **kwargs)


async def status_with(api, credential: str) -> tuple[int, dict]:
    resp = await api.client.get("/users/me", headers={"Authorization": credential})
    return resp.status, resp.headers


async def test_rotate_keeps_the_token_and_changes_only_the_secret(api, user_headers):
    token = await api.create_token(user_headers, label="fleet", scopes=["read:pipes"],
                                   rate_limit=100)
    resp = await rotate(api, user_headers, token["id"])
    assert resp.status == 200, await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"
    new = await resp.json()
    assert_token_shape(new, created=True)
    for same in ("id", "label", "user", "scopes", "expiration", "created_at", "rate_limit"):
        assert new[same] == token[same], same
    assert new["secret"] != token["secret"] and new["api_key"] != token["api_key"]
    # The default overlap is an hour.
    left = parse_time(new["previous_secret_expires_at"]) - datetime.now(UTC)
    assert timedelta(minutes=59) < left <= timedelta(hours=1)

    # Both secrets work; the old one says until when, the new one does not.
    status, headers = await status_with(api, token["api_key"])
    assert status == 200
    assert parse_time(headers[ROTATED]) == parse_time(new["previous_secret_expires_at"])
    assert headers[EXPIRES] == token["expiration"]
    status, headers = await status_with(api, new["api_key"])
    assert status == 200 and ROTATED not in headers
    # As client credentials too, at /login.
    for secret, rotated in ((token["secret"], True), (new["secret"], False)):
        resp = await api.client.post("/login", data={
            "grant_type": "client_credentials", "client_id": token["id"],
            "client_secret": secret})
        assert resp.status == 200
        assert (ROTATED in resp.headers) is rotated

    # The secret is never shown again; the representation shows the overlap's end.
    shown = await (await api.client.get(f"/tokens/{token['id']}", headers=user_headers)).json()
    assert_token_shape(shown)
    assert shown["previous_secret_expires_at"] == new["previous_secret_expires_at"]
    listed = await (await api.client.get("/tokens", headers=user_headers)).json()
    assert listed["items"][0]["previous_secret_expires_at"] == new["previous_secret_expires_at"]


async def test_after_the_overlap_only_the_new_secret_works(api, user_headers, database_url):
    token = await api.create_token(user_headers)
    new = await (await rotate(api, user_headers, token["id"], {"overlap_seconds": 60})).json()
    assert (await status_with(api, token["api_key"]))[0] == 200  # cached now
    async with connect(database_url) as conn:  # the overlap ends (as if a minute passed)
        await conn.execute("UPDATE tokens SET previous_secret_expires_at = now() WHERE id = $1",
                           uuid.UUID(token["id"]))
    assert (await status_with(api, token["api_key"]))[0] == 401
    assert (await status_with(api, new["api_key"]))[0] == 200
    shown = await (await api.client.get(f"/tokens/{token['id']}", headers=user_headers)).json()
    assert shown["previous_secret_expires_at"] is None


async def test_rotating_again_ends_the_older_secret_at_once(api, user_headers):
    first = await api.create_token(user_headers)
    second = await (await rotate(api, user_headers, first["id"])).json()
    assert (await status_with(api, first["api_key"]))[0] == 200
    third = await (await rotate(api, user_headers, first["id"])).json()
    assert (await status_with(api, first["api_key"]))[0] == 401  # at most two secrets
    assert (await status_with(api, second["api_key"]))[0] == 200
    assert (await status_with(api, third["api_key"]))[0] == 200


async def test_overlap_zero_ends_the_old_secret_and_its_jwts(api, user_headers):
    token = await api.create_token(user_headers)
    jwt = await api.client_credentials(token)
    assert (await status_with(api, f"Bearer {jwt}"))[0] == 200
    resp = await rotate(api, user_headers, token["id"], {"overlap_seconds": 0})
    new = await resp.json()
    assert resp.status == 200 and new["previous_secret_expires_at"] is None
    assert (await status_with(api, token["api_key"]))[0] == 401
    assert (await status_with(api, f"Bearer {jwt}"))[0] == 401
    # The new secret, and JWTs issued after the rotation, work (even in the same second).
    assert (await status_with(api, new["api_key"]))[0] == 200
    fresh = await api.client_credentials(new)
    assert (await status_with(api, f"Bearer {fresh}"))[0] == 200


async def test_with_an_overlap_issued_jwts_live_on(api, user_headers):
    token = await api.create_token(user_headers)
    jwt = await api.client_credentials(token)
    await rotate(api, user_headers, token["id"], {"overlap_seconds": 30})
    status, headers = await status_with(api, f"Bearer {jwt}")
    assert status == 200 and headers[EXPIRES] == token["expiration"]


async def test_invalidation_and_deletion_end_both_secrets(api, user_headers):
    token = await api.create_token(user_headers)
    new = await (await rotate(api, user_headers, token["id"])).json()
    resp = await api.client.post(f"/tokens/{token['id']}/invalidate", headers=user_headers)
    body = await resp.json()
    assert body["previous_secret_expires_at"] is None
    assert body["invalidated_reason"] == "invalidated"
    for key in (token["api_key"], new["api_key"]):
        assert (await status_with(api, key))[0] == 401
    await assert_error(await rotate(api, user_headers, token["id"]), 409, "conflict")

    other = await api.create_token(user_headers)
    rotated = await (await rotate(api, user_headers, other["id"])).json()
    assert (await api.client.delete(f"/tokens/{other['id']}", headers=user_headers)).status == 204
    for key in (other["api_key"], rotated["api_key"]):
        assert (await status_with(api, key))[0] == 401


async def test_rotation_is_audited_without_secrets(api, user_headers, admin_headers):
    token = await api.create_token(user_headers)
    new = await (await rotate(api, user_headers, token["id"], {"overlap_seconds": 0})).json()
    resp = await api.client.get("/audit?kind=token.rotated", headers=admin_headers)
    text = await resp.text()
    assert token["secret"] not in text and new["secret"] not in text
    events = (await resp.json())["items"]
    assert len(events) == 1
    assert events[0]["target_token_id"] == token["id"]
    assert events[0]["details"]["overlap_seconds"] == 0
    assert events[0]["actor_username"] == "alice"


async def test_who_may_rotate_and_bad_bodies(api, user_headers, admin_headers):
    await api.create_user("bob")
    bob = await api.bearer("bob")
    bobs = await api.create_token(bob)
    # Someone else's token is not there for a user; an admin may rotate it.
    await assert_error(await rotate(api, user_headers, bobs["id"]), 404, "not_found")
    await assert_error(await rotate(api, user_headers, str(uuid.uuid4())), 404)
    await assert_error(await rotate(api, user_headers, "not-a-uuid"), 404)
    assert (await rotate(api, admin_headers, bobs["id"])).status == 200
    # write:tokens is needed.
    reader = await api.create_token(user_headers, scopes=["read:tokens"])
    mine = await api.create_token(user_headers)
    await assert_error(await api.client.post(
        f"/tokens/{mine['id']}/rotate", headers={"Authorization": reader["api_key"]}), 403)
    await assert_error(await api.client.post(f"/tokens/{mine['id']}/rotate"), 401)
    for body, field in (({"overlap_seconds": -1}, "overlap_seconds"),
                        ({"overlap_seconds": 2_592_001}, "overlap_seconds"),
                        ({"overlap_seconds": "60"}, "overlap_seconds"),
                        ({"overlap_seconds": 1.5}, "overlap_seconds"),
                        ({"secret": "mine"}, "secret")):
        err = await assert_error(await rotate(api, user_headers, mine["id"], body), 422)
        assert field in err["fields"], err
    ok = await rotate(api, user_headers, mine["id"], {"overlap_seconds": 2_592_000})
    left = parse_time((await ok.json())["previous_secret_expires_at"]) - datetime.now(UTC)
    assert timedelta(days=29, hours=23) < left <= timedelta(days=30)


async def test_a_token_may_rotate_only_tokens_that_can_do_no_more_than_it(api, user_headers):
    """Rotating hands over the new secret: a key must not mint itself a stronger one."""
    soon = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=20)).isoformat()
    manager = await api.create_token(user_headers, label="manager", expiration=soon,
                                     scopes=["read:tokens", "write:tokens", "read:pipes"],
                                     pipes=["mqtt:garden/*/*"])
    key = {"Authorization": manager["api_key"]}
    wider = {
        "scopes": await api.create_token(user_headers, label="w-scopes", expiration=soon,
                                         scopes=["read:pipes", "write:pipes"],
                                         pipes=["mqtt:garden/*/*"]),
        "pipes": await api.create_token(user_headers, label="w-pipes", expiration=soon,
                                        scopes=["read:pipes"]),
        "expiration": await api.create_token(user_headers, label="w-exp", expiration=later,
                                             scopes=["read:pipes"], pipes=["mqtt:garden/*/*"]),
    }
    for what, token in wider.items():
        resp = await rotate(api, key, token["id"])
        await assert_error(resp, 403, "forbidden")
        status, _ = await status_with(api, token["api_key"])
        assert status == 200, what  # untouched: the old secret still works alone
    narrower = await api.create_token(user_headers, label="narrow", expiration=soon,
                                      scopes=["read:pipes"], pipes=["mqtt:garden/t/-"])
    for token in (narrower, manager):  # one it covers, and itself
        resp = await rotate(api, key, token["id"])
        assert resp.status == 200, await resp.text()
