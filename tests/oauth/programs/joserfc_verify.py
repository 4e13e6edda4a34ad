"""The same check with joserfc (authlib's JOSE library): python joserfc_verify.py ISSUER JWT."""

import json
import sys
import urllib.request

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

issuer, token = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(issuer + "/.well-known/oauth-authorization-server") as resp:
    metadata = json.load(resp)
with urllib.request.urlopen(metadata["jwks_uri"]) as resp:
    keys = KeySet.import_key_set(json.load(resp))
try:
    decoded = jwt.decode(token, keys, algorithms=["EdDSA", "ES256"])
    if decoded.header.get("typ") != "at+jwt":
        raise JoseError("not an RFC 9068 access token")
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": issuer},
                          aud={"essential": True, "value": issuer},
                          exp={"essential": True}, sub={"essential": True}).validate(
        decoded.claims)
except (JoseError, ValueError) as err:
    print(f"refused: {type(err).__name__}: {err}")
    sys.exit(1)
print(json.dumps(decoded.claims))
