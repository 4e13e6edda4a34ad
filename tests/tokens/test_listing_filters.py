"""GET /tokens narrowed by the API: search, scope, state, sort and order, with paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.assertions import assert_error, connect


async def listing(api, headers, **params) -> dict:
    resp = await api.client.get("/tokens", headers=headers, params=params)
    assert resp.status == 200, await resp.text()
    return await resp.json()


def labels(body: dict) -> list[str]:
    return [t["label"] for t in body["items"]]


def soon(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def test_search_matches_label_owner_and_client_id_prefix(api, user_headers,
                                                               admin_headers):
    await api.create_user("bob")
    bob = await api.bearer("bob")
    greenhouse = await api.create_token(user_headers, label="Greenhouse-North")
    await api.create_token(user_headers, label="dashboard")
    await api.create_token(bob, label="bob-laptop")

    assert labels(await listing(api, user_headers, q="greenhouse")) == ["Greenhouse-North"]
    assert labels(await listing(api, user_headers, q=greenhouse["id"][:8].upper())) == [
        "Greenhouse-North"]
    # A user's search never reaches past her own tokens, whoever the owner it names.
    assert (await listing(api, user_headers, q="bob"))["total"] == 0
    by_owner = await listing(api, admin_headers, q="ALIC")
    assert sorted(labels(by_owner)) == ["Greenhouse-North", "dashboard"]
    assert by_owner["total"] == 2
    # LIKE's wildcards are plain characters in a search.
    assert (await listing(api, admin_headers, q="%"))["total"] == 0
    assert (await listing(api, admin_headers, q="_"))["total"] == 0
    await api.create_token(bob, label="with_underscore")
    assert labels(await listing(api, admin_headers, q="h_u")) == ["with_underscore"]


async def test_scope_and_state_filters(api, user_headers, database_url):
    await api.create_token(user_headers, label="reader", scopes=["read:pipes"])
    await api.create_token(user_headers, label="writer", scopes=["write:pipes"],
                           expiration=soon(2))
    await api.create_token(user_headers, label="forever", scopes=["read:pipes"],
                           expiration=None)
    gone = await api.create_token(user_headers, label="gone", scopes=["read:pipes"])
    resp = await api.client.post(f"/tokens/{gone['id']}/invalidate", headers=user_headers)
    assert resp.status == 200
    old = await api.create_token(user_headers, label="old", scopes=["read:tokens"])
    async with connect(database_url) as conn:
        await conn.execute("UPDATE tokens SET expiration = now() - interval '1 day' "
                           "WHERE id = $1::uuid", old["id"])

    async def found(**params) -> list[str]:
        return sorted(labels(await listing(api, user_headers, **params)))

    assert await found(scope="read:pipes") == ["forever", "gone", "reader"]
    assert await found(state="valid") == ["forever", "reader", "writer"]
    assert await found(state="expiring_soon") == ["writer"]
    assert await found(state="invalidated") == ["gone"]
    assert await found(state="expired") == ["old"]
    assert await found(state="valid", scope="read:pipes") == ["forever", "reader"]
    body = await listing(api, user_headers, state="valid", scope="read:pipes", q="for")
    assert (labels(body), body["total"]) == (["forever"], 1)


async def test_sort_and_order_with_paging(api, user_headers, database_url):
    made = [await api.create_token(user_headers, label=f"t{i}", expiration=soon(10 + i))
            for i in range(5)]
    await api.create_token(user_headers, label="never", expiration=None)
    async with connect(database_url) as conn:
        # Used in order of creation: t1 longest ago, t4 most recently; t0 never.
        for age, token in enumerate(reversed(made[1:])):
            await conn.execute("UPDATE tokens SET last_used_at = now() - $2 * interval '1 hour' "
                               "WHERE id = $1::uuid", token["id"], age)

    assert labels(await listing(api, user_headers)) == ["never", "t4", "t3", "t2", "t1", "t0"]
    assert labels(await listing(api, user_headers, sort="created", order="asc")) == [
        "t0", "t1", "t2", "t3", "t4", "never"]
    assert labels(await listing(api, user_headers, sort="expires", order="asc")) == [
        "t0", "t1", "t2", "t3", "t4", "never"]
    assert labels(await listing(api, user_headers, sort="expires")) == [
        "never", "t4", "t3", "t2", "t1", "t0"]
    by_use = await listing(api, user_headers, sort="last_used")
    assert labels(by_use)[:4] == ["t4", "t3", "t2", "t1"]
    assert sorted(labels(by_use)[4:]) == ["never", "t0"]  # never used: last either way
    by_use = await listing(api, user_headers, sort="last_used", order="asc")
    assert labels(by_use)[:4] == ["t1", "t2", "t3", "t4"]
    assert sorted(labels(by_use)[4:]) == ["never", "t0"]
    page = await listing(api, user_headers, sort="expires", order="asc", limit=2, offset=2)
    assert (labels(page), page["total"], page["offset"]) == (["t2", "t3"], 6, 2)


@pytest.mark.parametrize(("params", "field"), [
    ({"q": ""}, "q"),
    ({"q": "x" * 101}, "q"),
    ({"q": "a\x00b"}, "q"),
    ({"scope": "read:everything"}, "scope"),
    ({"state": "revoked"}, "state"),
    ({"sort": "label"}, "sort"),
    ({"order": "up"}, "order"),
    ({"limit": "0"}, "limit"),
])
async def test_bad_filters_are_a_422_naming_the_field(api, user_headers, params, field):
    resp = await api.client.get("/tokens", headers=user_headers, params=params)
    body = await assert_error(resp, 422, "validation_error")
    assert field in body["fields"], body
