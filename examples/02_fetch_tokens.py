"""Seed example 2, "Fetching Tokens": list `myuser`'s tokens from an instance connector.

    python examples/02_fetch_tokens.py [INSTANCE]      # default sql:main
"""

import sys

import service as mrsm

instance = sys.argv[1] if len(sys.argv) > 1 else "sql:main"

conn = mrsm.get_connector(instance)
user = mrsm.User("myuser", instance=conn)

# Admins can see all tokens, including those without a user.
# Regular users only see their own tokens.
tokens = conn.get_tokens(user=user)

for token in tokens:
    print(token)
print(f"{len(tokens)} token(s) of {user} on {conn}")
