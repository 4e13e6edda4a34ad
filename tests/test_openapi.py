"""/openapi.json describes every route, and real responses have the documented shape."""

import re

from service.app import create_app

_TYPES = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list,
          "number": (int, float), "null": type(None)}


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    return schema


def check(document: dict, schema: dict, value, where: str = "$") -> None:
    """A small JSON Schema check: types, required, no undocumented properties, nested."""
    schema = _resolve(document, schema)
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                check(document, option, value, where)
                return
            except AssertionError as err:
                errors.append(str(err))
        raise AssertionError(f"{where}: matches no option: {errors}")
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        assert any(isinstance(value, _TYPES[k]) and not (k == "integer" and isinstance(value, bool))
                   for k in kinds), f"{where}: {value!r} is not {kinds}"
    if isinstance(value, dict) and "properties" in schema:
        for key in schema.get("required", []):
            assert key in value, f"{where}: missing {key}"
        for key, item in value.items():
            assert key in schema["properties"], f"{where}: undocumented property {key}"
            check(document, schema["properties"][key], item, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check(document, schema["items"], item, f"{where}[{i}]")


async def test_every_route_is_in_the_document(client, settings):
    document = await (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    app = create_app(settings)
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        path = re.sub(r"{([^}:]+)(?::[^}]+)?}", r"{\1}", route.resource.canonical)
        assert route.method.lower() in document["paths"].get(path, {}), (route.method, path)


async def test_every_reference_resolves(client):
    document = await (await client.get("/openapi.json")).json()
    refs = re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', str(document).replace("'", '"'))
    assert refs
    for name in refs:
        assert name in document["components"]["schemas"], name


async def test_protected_routes_declare_their_scopes(client):
    document = await (await client.get("/openapi.json")).json()
    post_tokens = document["paths"]["/tokens"]["post"]
    assert {"bearer": ["write:tokens"]} in post_tokens["security"]
    assert document["paths"]["/healthz"]["get"]["security"] == []


async def test_real_responses_match_the_document(client, api, admin_headers):
    document = await (await client.get("/openapi.json")).json()

    def schema_for(path: str, method: str, status: int) -> dict:
        content = document["paths"][path][method]["responses"][str(status)]["content"]
        return content["application/json"]["schema"]

    created = await api.create_token(admin_headers, label="doc")
    check(document, schema_for("/tokens", "post", 201), created)
    listed = await (await client.get("/tokens", headers=admin_headers)).json()
    check(document, schema_for("/tokens", "get", 200), listed)
    me = await (await client.get("/users/me", headers=admin_headers)).json()
    check(document, schema_for("/users/me", "get", 200), me)
    users = await (await client.get("/users", headers=admin_headers)).json()
    check(document, schema_for("/users", "get", 200), users)
    config = await (await client.get("/config")).json()
    check(document, schema_for("/config", "get", 200), config)
    resp = await client.post("/login", data={"grant_type": "client_credentials",
                                             "client_id": created["id"],
                                             "client_secret": created["secret"]})
    check(document, schema_for("/login", "post", 200), await resp.json())
    error = await (await client.get("/tokens")).json()
    check(document, document["paths"]["/tokens"]["get"]["responses"]["default"]["content"]
          ["application/json"]["schema"], error)


async def test_the_checker_refuses_a_wrong_shape(client):
    document = await (await client.get("/openapi.json")).json()
    schema = document["paths"]["/users/me"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    try:
        check(document, schema, {"id": 1, "surprise": True})
    except AssertionError:
        return
    raise AssertionError("a wrong shape passed the check")


async def test_the_token_notices_are_declared_where_they_are_sent(client, api, admin_headers):
    document = await (await client.get("/openapi.json")).json()
    declared = document["components"]["headers"]
    assert set(declared) == {"Mrsm-Token-Expires", "Mrsm-Token-Rotated"}

    def headers_of(path: str, method: str, status: str) -> set[str]:
        response = document["paths"][path][method]["responses"][status]
        return {ref["$ref"].rsplit("/", 1)[1] for ref in response.get("headers", {}).values()}

    for path, method, status in [("/users/me", "get", "200"), ("/tokens", "post", "201"),
                                 ("/tokens", "get", "default"), ("/login", "post", "200")]:
        assert headers_of(path, method, status) == set(declared), (path, method, status)
    assert headers_of("/healthz", "get", "200") == set()  # no credential, no notice
    # And a real answer carries what the document says it may.
    token = await api.create_token(admin_headers, label="notices", scopes=["read:users"],
                                   expiration="2099-01-01T00:00:00Z")
    resp = await client.get("/users/me", headers={"Authorization": token["api_key"]})
    assert resp.status == 200
    assert resp.headers["Mrsm-Token-Expires"].startswith("2099-01-01T00:00:00")
    assert set(resp.headers) & set(declared) <= set(headers_of("/users/me", "get", "200"))
