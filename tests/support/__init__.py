"""Helpers shared by the tests: ordinary modules, imported by conftests and test modules alike.

Conftests hold fixtures only; whatever a test module or a benchmark imports lives here.
"""
