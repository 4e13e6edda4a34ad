"""`python -m bench`: the authentication benchmarks (bench/auth.py)."""

from bench.auth import main

main()
