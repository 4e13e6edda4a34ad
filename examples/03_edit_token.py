"""Seed example 3, "Editing a Token": extend the first token by 30 days, narrow its scopes.

    python examples/03_edit_token.py [INSTANCE]        # default sql:main
"""

import sys
from datetime import datetime, timedelta, timezone

import service as mrsm

instance = sys.argv[1] if len(sys.argv) > 1 else "sql:main"
conn = mrsm.get_connector(instance)
tokens = conn.get_tokens(user=mrsm.User("myuser", instance=conn))  # as in example 2
if not tokens:
    sys.exit("myuser has no tokens: run 01_create_token.py first")

# Get the first token from the list.
token = tokens[0]
print(f"before: {token}")

# Extend the expiration by 30 days.
if token.expiration:
    token.expiration += timedelta(days=30)
else:
    token.expiration = datetime.now(timezone.utc) + timedelta(days=30)  # noqa: UP017

# Limit the token's scopes.
token.scopes = ["read:pipes", "write:pipes"]

success, msg = token.edit()
print(msg)
print(f"after:  {token}")
sys.exit(0 if success else 1)
