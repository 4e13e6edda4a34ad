"""Seed example 4, "Invalidating and Deleting Tokens": invalidate the first token, then delete it.

    python examples/04_invalidate_and_delete_token.py [INSTANCE]   # default sql:main
"""

import sys

import service as mrsm

instance = sys.argv[1] if len(sys.argv) > 1 else "sql:main"
conn = mrsm.get_connector(instance)
tokens = conn.get_tokens(user=mrsm.User("myuser", instance=conn))  # as in example 2
if not tokens:
    sys.exit("myuser has no tokens: run 01_create_token.py first")
token = tokens[0]

# Invalidate the token.
success, msg = token.invalidate()
print(msg)
print(token)
if not success:
    sys.exit(1)

# Delete the token permanently.
success, msg = token.delete()
print(msg)
sys.exit(0 if success else 1)
