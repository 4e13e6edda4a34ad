"""The test suite. Its folders mirror service/: the tests of service/X/Y.py are in tests/X/,
those of a top-level module service/Y.py at the top (tests/test_Y.py). Two folders group
tests by threat instead: tests/attacks/ (hostile input) and tests/faults/ (a database that
goes away, a killed process). Helpers shared by tests live in tests/support/; conftest
modules hold fixtures only.
"""
