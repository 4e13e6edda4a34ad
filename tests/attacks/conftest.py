"""Fixtures for attack tests: service processes for what needs a real socket or server."""

from tests.processes import start_service  # noqa: F401 (a fixture)
