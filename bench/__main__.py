"""`python -m bench`: the authentication benchmarks (bench/auth.py), then pipe ingest
(bench/pipes_ingest.py)."""

from bench import auth, pipes_ingest

auth.main()
pipes_ingest.main()
