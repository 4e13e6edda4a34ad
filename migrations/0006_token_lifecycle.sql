-- A token's lifecycle: rotation with an overlap, why it was invalidated, where it was used.
--
-- A rotation keeps the old secret's hash in previous_secret_hash until
-- previous_secret_expires_at (at most two secrets are ever valid). secret_version counts
-- rotations; a JWT from the client-credentials grant carries the version it was issued
-- under, and jwt_min_version is the oldest version still accepted: a rotation without an
-- overlap raises it, which ends every JWT issued before. recent_sources is the last five
-- client addresses ([{"address", "last_seen_at"}], newest first), written with
-- last_used_at by the last-used flush.

-- migrate:up
ALTER TABLE tokens
    ADD COLUMN previous_secret_hash bytea CHECK (octet_length(previous_secret_hash) = 32),
    ADD COLUMN previous_secret_expires_at timestamptz,
    ADD COLUMN secret_version integer NOT NULL DEFAULT 1,
    ADD COLUMN jwt_min_version integer NOT NULL DEFAULT 0,
    ADD COLUMN invalidated_reason text CHECK (invalidated_reason IN ('invalidated', 'leaked')),
    ADD COLUMN recent_sources jsonb NOT NULL DEFAULT '[]';
UPDATE tokens SET invalidated_reason = 'invalidated'
WHERE invalidated_at IS NOT NULL AND user_id IS NOT NULL;
-- Listing tokens that expire soon.
CREATE INDEX tokens_expiration_idx ON tokens (expiration) WHERE expiration IS NOT NULL;

-- The old secret and the JWT floor narrow or end credentials: they notify too.
-- last_used_at and recent_sources still do not (the flush notifies nobody).
DROP TRIGGER tokens_notify_auth ON tokens;
CREATE TRIGGER tokens_notify_auth
AFTER UPDATE OF label, scopes, expiration, invalidated_at, user_id, secret_hash,
                previous_secret_hash, previous_secret_expires_at, jwt_min_version OR DELETE
ON tokens FOR EACH ROW EXECUTE FUNCTION mrsm_notify_token_change();

-- migrate:down
DROP TRIGGER tokens_notify_auth ON tokens;
CREATE TRIGGER tokens_notify_auth
AFTER UPDATE OF label, scopes, expiration, invalidated_at, user_id, secret_hash OR DELETE
ON tokens FOR EACH ROW EXECUTE FUNCTION mrsm_notify_token_change();
DROP INDEX tokens_expiration_idx;
ALTER TABLE tokens
    DROP COLUMN recent_sources,
    DROP COLUMN invalidated_reason,
    DROP COLUMN jwt_min_version,
    DROP COLUMN secret_version,
    DROP COLUMN previous_secret_expires_at,
    DROP COLUMN previous_secret_hash;
