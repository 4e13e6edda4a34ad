async def test_token_lifecycle_end_to_end(api, admin_headers):
    token = await api.create_token(admin_headers, label="device", scopes=["read:tokens"])
    resp = await api.client.get("/users/me", headers={"Authorization": token["api_key"]})
    assert resp.status == 200
    me = await resp.json()
    assert me["token"] == {"id": token["id"], "label": "device"}
    assert me["scopes"] == ["read:tokens"]
