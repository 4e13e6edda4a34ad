"""A downstream service's check with PyJWT, knowing only the issuer: python pyjwt_verify.py
ISSUER JWT. Prints the verified claims as JSON; exits 1 with the reason when refused."""

import json
import sys
import urllib.request

import jwt

issuer, token = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(issuer + "/.well-known/oauth-authorization-server") as resp:
    metadata = json.load(resp)
assert metadata["issuer"] == issuer
try:
    key = jwt.PyJWKClient(metadata["jwks_uri"]).get_signing_key_from_jwt(token)
    if jwt.get_unverified_header(token).get("typ") != "at+jwt":
        raise jwt.InvalidTokenError("not an RFC 9068 access token")
    claims = jwt.decode(token, key, algorithms=["EdDSA", "ES256"], issuer=issuer,
                        audience=issuer, options={"require": ["exp", "iat", "sub", "jti"]})
except jwt.PyJWTError as err:
    print(f"refused: {type(err).__name__}: {err}")
    sys.exit(1)
print(json.dumps(claims))
