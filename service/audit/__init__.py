"""The audit trail: an append-only record of changes, logins and throttling."""
