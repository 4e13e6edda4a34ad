"""An OAuth2 client with authlib, knowing only the issuer and its client ID and secret:
python authlib_client.py ISSUER CLIENT_ID CLIENT_SECRET AUTH_METHOD. Gets a token by client
credentials, introspects it, revokes it, introspects it again; prints what it saw as JSON."""

import json
import sys

import requests
from authlib.integrations.requests_client import OAuth2Session

issuer, client_id, client_secret, method = sys.argv[1:5]
metadata = requests.get(issuer + "/.well-known/oauth-authorization-server", timeout=10).json()
assert method in metadata["token_endpoint_auth_methods_supported"]
client = OAuth2Session(client_id, client_secret, token_endpoint_auth_method=method,
                       revocation_endpoint_auth_method=method)
token = client.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
seen = {"token": token}
resp = client.introspect_token(metadata["introspection_endpoint"],
                               token=token["access_token"], token_type_hint="access_token")
seen["introspected"] = {"status": resp.status_code, "body": resp.json()}
resp = client.revoke_token(metadata["revocation_endpoint"], token=token["access_token"],
                           token_type_hint="access_token")
seen["revoked"] = {"status": resp.status_code, "body": resp.text}
resp = client.introspect_token(metadata["introspection_endpoint"],
                               token=token["access_token"])
seen["after"] = {"status": resp.status_code, "body": resp.json()}
bad = OAuth2Session(client_id, "wrong-secret", token_endpoint_auth_method=method)
resp = bad.introspect_token(metadata["introspection_endpoint"], token=token["access_token"])
seen["bad_client"] = {"status": resp.status_code, "body": resp.json()}
print(json.dumps(seen))
