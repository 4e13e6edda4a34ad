"""Seed example 1, "Creating a Token": register a token for `myuser` and print its credentials.

    python examples/01_create_token.py [INSTANCE]      # default sql:main
"""

import sys

import service as mrsm  # noqa: F401  (as in the seed: `import meerschaum as mrsm`)
from service import Token, User

instance = sys.argv[1] if len(sys.argv) > 1 else "sql:main"

# Tokens must be associated with a user.
user = User("myuser", instance=instance)

# The token will be managed by the instance connector.
token = Token(
    label="my-iot-device",
    user=user,
    instance=instance,
)

# The register() method generates the credentials and saves the token.
success, msg = token.register()
if not success:
    print(msg)
    sys.exit(1)
else:
    print(f"Successfully registered token '{token.label}'")
    print(f"  Client ID: {token.id}")
    print(f"  Client Secret: {token.secret}")
    print(f"  API Key: {token.get_api_key()}")
