"""Pipes: time-series streams keyed by connector, metric and location, and their rows."""
