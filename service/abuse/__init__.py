"""Abuse limits: failed-authentication throttling, per-token rate limits and networks."""
