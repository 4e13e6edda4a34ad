"""Attacks on tokens bound to pipes: patterns that would be wildcards elsewhere, lookalike
keys, forged JWT details, and paths that try to step outside the reach."""

from __future__ import annotations

import time

import pytest

from service import keys
from tests.support.attacks import forge_hs256
from tests.support.pipes import error_of, hourly, write

ALL = ["read:pipes", "write:pipes", "delete:pipes"]
PIPES = ["dev_1/temp/-", "devX1/temp/-", "dev%1/temp/-", "dev.1/temp/-", "DEV_1/temp/-",
         "dev_1/temp/a.b", "dev_1/temperature/-", "dev_/temp/-"]


@pytest.fixture
async def alice(api):
    await api.create_user("alice")
    headers = await api.bearer("alice")
    for text in PIPES:
        ck, mk, lk = text.split("/")
        if "%" in ck:
            continue  # not a key: it cannot exist
        await write(api.client, headers, hourly(1),
                    path=f"/pipes/{ck}/{mk}/{lk}/data?create=true")
    return headers


async def visible(client, headers) -> set[str]:
    body = await (await client.get("/pipes", headers=headers, params={"limit": 1000})).json()
    assert body["total"] == len(body["items"])
    return {"/".join((p["connector_keys"], p["metric_key"], p["location_key"] or "-"))
            for p in body["items"]}


async def test_underscore_and_dot_are_literal_never_wildcards(client, api, alice):
    token = await api.create_token(alice, scopes=ALL, pipes=["dev_1/temp/-", "dev.1/*/-"])
    key = {"Authorization": token["api_key"]}
    # '_' would match any character in LIKE, '.' in a regular expression: here neither.
    assert await visible(client, key) == {"dev_1/temp/-", "dev.1/temp/-"}
    for hidden in ("devX1/temp/-", "DEV_1/temp/-", "dev_1/temp/a.b", "dev_1/temperature/-",
                   "dev_/temp/-"):
        await error_of(await client.get(f"/pipes/{hidden}", headers=key), 404)


@pytest.mark.parametrize("pattern", ["dev%/*/*", "%/%/%", "dev*/*/*", "*dev/*/*", "de[v]/*/*",
                                     "dev\\_1/*/*", "dev_1/temp/-%", "(?i)dev/*/*", "**/*/*",
                                     "dev_1/te?p/-", "ｄｅｖ_1/*/*", "dev_1/temp/\u200b",
                                     "dev_1/temp/-\r\n", "dev_1%2Ftemp/*/*"])
async def test_wildcard_syntaxes_of_other_languages_are_refused(client, alice, pattern):
    resp = await client.post("/tokens", headers=alice, json={"pipes": [pattern]})
    err = await error_of(resp, 422)
    assert list(err["fields"]) == ["pipes"]


async def test_paths_cannot_step_outside_the_reach(client, api, alice):
    token = await api.create_token(alice, scopes=ALL, pipes=["dev_1/temp/-"])
    key = {"Authorization": token["api_key"]}
    for path in ("/pipes/dev_1/temp/..%2F..%2FdevX1", "/pipes/dev_1%2Ftemp%2F-/x/-",
                 "/pipes/devX1/temp/-%00", "/pipes/dev_1/temp/%2A"):
        resp = await client.get(path, headers=key)
        assert resp.status in (404, 422), (path, resp.status)
    # A wildcard in the path is a key like any other, never a pattern.
    await error_of(await client.post("/pipes/*/temp/-/data?create=true", headers=key,
                                      json=hourly(1)), 422)


async def test_an_admins_bound_token_is_bound_too(client, api, admin_headers, alice):
    token = await api.create_token(admin_headers, scopes=ALL, pipes=["devX1/*/*"])
    key = {"Authorization": token["api_key"]}
    assert await visible(client, key) == {"devX1/temp/-"}
    await error_of(await client.delete("/pipes/dev_1/temp/-", headers=key), 404)


def forged(client, token: dict, user_id: str, details) -> dict:
    """A bearer with a JWT of `token` that the service would accept but for `details`,
    signed with its own key (the attack tests' app signs HS256 with a key they know)."""
    settings = client.app[keys.SETTINGS]
    now = int(time.time())
    claims = {"iss": settings.issuer, "aud": settings.audience, "sub": user_id, "iat": now,
              "exp": now + 600, "jti": "f1", "scope": " ".join(ALL), "tid": token["id"],
              "client_id": token["id"]}
    if details is not None:
        claims["authorization_details"] = details
    return {"Authorization": f"Bearer {forge_hs256(claims)}"}


async def test_a_jwt_signed_with_wider_details_reaches_no_more_than_its_token(client, api,
                                                                              alice):
    """Even with the signing key, a JWT's details only narrow: the row decides too."""
    token = await api.create_token(alice, scopes=ALL, pipes=["dev_1/temp/-"])
    me = await (await client.get("/users/me", headers=alice)).json()
    for details in (None, [{"type": "mrsm_pipes", "pipes": ["*/*/*"]}], [{"type": "other"}]):
        headers = forged(client, token, me["id"], details)
        assert await visible(client, headers) == {"dev_1/temp/-"}, details


@pytest.mark.parametrize("details", [
    {"type": "mrsm_pipes", "pipes": ["*/*/*"]}, [{"pipes": ["*/*/*"]}], ["mrsm_pipes"],
    [{"type": "mrsm_pipes"}], [{"type": "mrsm_pipes", "pipes": []}],
    [{"type": "mrsm_pipes", "pipes": "*/*/*"}], [{"type": "mrsm_pipes", "pipes": [7]}],
    [{"type": "mrsm_pipes", "pipes": ["*/*"]}],
    [{"type": "mrsm_pipes", "pipes": ["a/b/c"]}, {"type": "mrsm_pipes", "pipes": ["*/*/*"]}],
    [{"type": "mrsm_pipes", "pipes": [f"{i}/m/-" for i in range(65)]}],
])
async def test_a_jwt_with_malformed_details_is_refused_not_read_as_unbound(client, api, alice,
                                                                           details):
    token = await api.create_token(alice, scopes=ALL)
    me = await (await client.get("/users/me", headers=alice)).json()
    # The same JWT without the details is good: what is refused is the details alone.
    assert (await client.get("/pipes", headers=forged(client, token, me["id"], None))).status == 200
    resp = await client.get("/pipes", headers=forged(client, token, me["id"], details))
    err = await error_of(resp, 401)
    assert err["error"] == "invalid_token"
