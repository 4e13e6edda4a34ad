# The seed page's four Python examples, verbatim and in order, with only the imports
# changed: `import meerschaum as mrsm` -> `import service as mrsm`,
# `from meerschaum.core import Token, User` -> `from service import Token, User`,
# `mrsm.core.User` -> `mrsm.User`. Needs the user `myuser` on sql:main (DATABASE_URL).
# ruff: noqa
import service as mrsm
from service import Token, User

# Tokens must be associated with a user.
user = User('myuser', instance='sql:main')

# The token will be managed by the 'sql:main' instance connector.
token = Token(
    label='my-iot-device',
    user=user,
    instance='sql:main',
)

# The register() method generates the credentials and saves the token.
success, msg = token.register()
if not success:
    print(msg)
else:
    print(f"Successfully registered token '{token.label}'")
    print(f"  Client ID: {token.id}")
    print(f"  Client Secret: {token.secret}")
    print(f"  API Key: {token.get_api_key()}")

import service as mrsm

conn = mrsm.get_connector('sql:main')
user = mrsm.User('myuser', instance=conn)

# Admins can see all tokens, including those without a user.
# Regular users only see their own tokens.
tokens = conn.get_tokens(user=user)

for token in tokens:
    print(token)

from datetime import datetime, timedelta, timezone

# Get the first token from the list.
token = tokens[0]

# Extend the expiration by 30 days.
if token.expiration:
    token.expiration += timedelta(days=30)
else:
    token.expiration = datetime.now(timezone.utc) + timedelta(days=30)

# Limit the token's scopes.
token.scopes = ['read:pipes', 'write:pipes']

success, msg = token.edit()

# Invalidate the token.
success, msg = token.invalidate()

# Delete the token permanently.
success, msg = token.delete()
