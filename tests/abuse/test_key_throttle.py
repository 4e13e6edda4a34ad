"""Failed API-key checks (and client-credentials logins): per client ID and address, per address."""

from __future__ import annotations

from service.auth.apikeys import make_api_key, new_secret
from tests.support.assertions import assert_error, bearer
from tests.support.throttling import LIMITS, from_ip

ATTACKER = "203.0.113.66"
DEVICE = "198.51.100.20"


def key_header(api_key: str, source: str) -> dict[str, str]:
    return from_ip(source, {"Authorization": api_key})


async def make_token(tapi) -> dict:
    await tapi.create_user("alice")
    return await tapi.create_token(await tapi.bearer("alice"), label="device")


async def test_wrong_secrets_for_a_client_id_block_that_address_only(tapi):
    token = await make_token(tapi)
    forged = make_api_key(token["id"], new_secret())
    for _ in range(LIMITS.pair_failures):
        resp = await tapi.client.get("/users/me", headers=key_header(forged, ATTACKER))
        await assert_error(resp, 401, "invalid_token")
    resp = await tapi.client.get("/users/me", headers=key_header(forged, ATTACKER))
    await assert_error(resp, 429, "too_many_requests")
    assert 1 <= int(resp.headers["Retry-After"]) <= LIMITS.penalty_seconds
    # The real key from the attacker's address is refused before it is checked...
    resp = await tapi.client.get("/users/me", headers=key_header(token["api_key"], ATTACKER))
    await assert_error(resp, 429, "too_many_requests")
    # ...and keeps working from the device's own address: no lockout.
    resp = await tapi.client.get("/users/me", headers=key_header(token["api_key"], DEVICE))
    assert resp.status == 200, await resp.text()


async def test_garbage_keys_count_against_the_source(tapi):
    token = await make_token(tapi)
    for i in range(LIMITS.source_failures):
        resp = await tapi.client.get("/users/me",
                                     headers=key_header(f"mrsm-key:garbage{i}", ATTACKER))
        await assert_error(resp, 401, "invalid_token")
    resp = await tapi.client.get("/users/me", headers=key_header(token["api_key"], ATTACKER))
    await assert_error(resp, 429, "too_many_requests")
    resp = await tapi.client.get("/users/me", headers=key_header(token["api_key"], DEVICE))
    assert resp.status == 200


async def test_client_credentials_failures_share_the_api_key_budget(tapi):
    token = await make_token(tapi)
    for _ in range(LIMITS.pair_failures):
        resp = await tapi.client.post("/login", headers=from_ip(ATTACKER), data={
            "grant_type": "client_credentials", "client_id": token["id"],
            "client_secret": new_secret()})
        await assert_error(resp, 401, "invalid_client")
    resp = await tapi.client.post("/login", headers=from_ip(ATTACKER), data={
        "grant_type": "client_credentials", "client_id": token["id"],
        "client_secret": token["secret"]})
    await assert_error(resp, 429, "too_many_requests")
    resp = await tapi.client.get("/users/me", headers=key_header(token["api_key"], ATTACKER))
    await assert_error(resp, 429, "too_many_requests")
    resp = await tapi.client.post("/login", headers=from_ip(DEVICE), data={
        "grant_type": "client_credentials", "client_id": token["id"],
        "client_secret": token["secret"]})
    assert resp.status == 200


async def test_malformed_client_ids_count_against_the_source(tapi):
    token = await make_token(tapi)
    for i in range(LIMITS.source_failures):
        resp = await tapi.client.post("/login", headers=from_ip(ATTACKER), data={
            "grant_type": "client_credentials", "client_id": f"not-a-uuid-{i}",
            "client_secret": "x"})
        await assert_error(resp, 401, "invalid_client")
    resp = await tapi.client.get("/users/me", headers=key_header(token["api_key"], ATTACKER))
    await assert_error(resp, 429, "too_many_requests")


async def test_bad_jwts_are_not_counted(tapi):
    token = await make_token(tapi)
    for _ in range(LIMITS.source_failures + 5):
        resp = await tapi.client.get("/users/me", headers=from_ip(ATTACKER, bearer("a.b.c")))
        await assert_error(resp, 401, "invalid_token")
    resp = await tapi.client.get("/users/me", headers=key_header(token["api_key"], ATTACKER))
    assert resp.status == 200


async def test_a_blocked_address_cannot_use_a_jwt_either(tapi):
    token = await make_token(tapi)
    access = await tapi.client_credentials(token)
    for i in range(LIMITS.source_failures):
        await tapi.client.get("/users/me", headers=key_header(f"mrsm-key:x{i}", ATTACKER))
    resp = await tapi.client.get("/users/me", headers=from_ip(ATTACKER, bearer(access)))
    await assert_error(resp, 429, "too_many_requests")


async def test_successful_requests_write_nothing(tapi, backend):
    token = await make_token(tapi)
    for _ in range(30):
        resp = await tapi.client.get("/users/me", headers=key_header(token["api_key"], DEVICE))
        assert resp.status == 200
    assert await backend.stored() == []


async def test_throttling_can_be_turned_off(api, user_headers):
    # The shared test settings have THROTTLE_ENABLED=0: nothing is counted or refused.
    forged = "mrsm-key:garbage"
    for _ in range(LIMITS.source_failures + 5):
        resp = await api.client.get("/users/me", headers={"Authorization": forged})
        await assert_error(resp, 401, "invalid_token")
    resp = await api.client.get("/users/me", headers=user_headers)
    assert resp.status == 200


async def test_another_process_learns_a_block_at_its_first_failure(tapi, aiohttp_client):
    from service.app import create_app
    from tests.support.api import Api

    token = await make_token(tapi)
    forged = make_api_key(token["id"], new_secret())
    for _ in range(LIMITS.pair_failures):
        await tapi.client.get("/users/me", headers=key_header(forged, ATTACKER))
    other = Api(await aiohttp_client(create_app(tapi.settings)), tapi.settings)
    # Its cache is empty: one more attempt is checked (and refused), and the answer
    # to that failure from the database tells it about the block.
    resp = await other.client.get("/users/me", headers=key_header(forged, ATTACKER))
    await assert_error(resp, 401, "invalid_token")
    resp = await other.client.get("/users/me", headers=key_header(token["api_key"], ATTACKER))
    await assert_error(resp, 429, "too_many_requests")
