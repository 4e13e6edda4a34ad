-- Failed-authentication counters shared by every process, and per-token limits.

-- migrate:up
-- One row per throttled key; written on failures only, so a success costs nothing.
-- `key` is a SHA-256 of what is counted (a username someone typed may be a password).
CREATE TABLE auth_throttle (
    rule          text NOT NULL,
    key           bytea NOT NULL,
    window_start  timestamptz NOT NULL,
    failures      integer NOT NULL,
    blocked_at    timestamptz,
    blocked_until timestamptz,
    -- When the row stops mattering: end of its window or of its block.
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (rule, key)
);
CREATE INDEX auth_throttle_expires_idx ON auth_throttle (expires_at);

-- Count one failure against (rule, key) and start a block once `budget` is reached.
-- Returns the failures in the current window, the end of the block (if any) and
-- whether this very failure started it. The upsert's row lock serialises processes.
CREATE FUNCTION auth_throttle_fail(p_rule text, p_key bytea, p_budget integer,
                                   p_window_seconds integer, p_penalty_seconds integer)
RETURNS TABLE (failures_now integer, blocked_till timestamptz, block_started boolean)
LANGUAGE plpgsql AS $$
DECLARE
    win interval := make_interval(secs => p_window_seconds);
    pen interval := make_interval(secs => p_penalty_seconds);
    n integer;
    till timestamptz;
BEGIN
    INSERT INTO auth_throttle AS t (rule, key, window_start, failures, expires_at)
    VALUES (p_rule, p_key, now(), 1, now() + win)
    ON CONFLICT (rule, key) DO UPDATE SET
        window_start = CASE WHEN t.window_start + win <= now() THEN now() ELSE t.window_start END,
        failures = CASE WHEN t.window_start + win <= now() THEN 1 ELSE t.failures + 1 END,
        expires_at = greatest(t.blocked_until, CASE WHEN t.window_start + win <= now()
                                                    THEN now() + win
                                                    ELSE t.window_start + win END)
    RETURNING t.failures, t.blocked_until INTO n, till;
    block_started := false;
    IF n >= p_budget AND (till IS NULL OR till <= now()) THEN
        till := now() + pen;
        UPDATE auth_throttle AS t
        SET blocked_at = now(), blocked_until = till, expires_at = greatest(t.expires_at, till)
        WHERE t.rule = p_rule AND t.key = p_key;
        block_started := true;
    END IF;
    failures_now := n;
    blocked_till := CASE WHEN till > now() THEN till END;
    RETURN NEXT;
END
$$;

-- Optional per-token limits: requests per minute, and the networks it may be used from.
ALTER TABLE tokens
    ADD COLUMN rate_limit integer CHECK (rate_limit >= 1),
    ADD COLUMN allowed_cidrs cidr[] CHECK (cardinality(allowed_cidrs) >= 1);

-- migrate:down
ALTER TABLE tokens DROP COLUMN allowed_cidrs, DROP COLUMN rate_limit;
DROP FUNCTION auth_throttle_fail(text, bytea, integer, integer, integer);
DROP TABLE auth_throttle;
