"""`python -m bench`: the authentication benchmarks (bench/auth.py), then EdDSA against
HS256 (bench/signing.py)."""

from bench import auth, signing

auth.main()
signing.main()
