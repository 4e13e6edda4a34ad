"""`python -m bench`: the authentication benchmarks (bench/auth.py), EdDSA against HS256
(bench/signing.py), then pipe ingest (bench/pipes_ingest.py)."""

from bench import auth, pipes_ingest, signing

auth.main()
signing.main()
pipes_ingest.main()
