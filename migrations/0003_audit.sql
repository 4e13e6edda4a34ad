-- The audit trail: who did what, when, from where, to what. Append-only.

-- migrate:up
CREATE TABLE audit_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    kind            text NOT NULL CHECK (kind ~ '^[a-z_]+\.[a-z_]+$'),
    -- Who: no foreign keys, so an event outlives the user or token it names.
    actor_user_id   uuid,
    actor_username  text,
    actor_token_id  uuid,
    actor_kind      text,
    source          inet,
    -- What it was done to.
    target_user_id  uuid,
    target_username text,
    target_token_id uuid,
    -- Which fields changed and their new values; never a secret, hash or password.
    details         jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_at_idx ON audit_events (at DESC, id DESC);
CREATE INDEX audit_events_kind_idx ON audit_events (kind, at DESC);
CREATE INDEX audit_events_actor_user_idx ON audit_events (actor_user_id, at DESC);
CREATE INDEX audit_events_target_user_idx ON audit_events (target_user_id, at DESC);
CREATE INDEX audit_events_actor_token_idx ON audit_events (actor_token_id, at DESC);
CREATE INDEX audit_events_target_token_idx ON audit_events (target_token_id, at DESC);

-- Append-only: UPDATE and DELETE fail whoever runs them (the service's own role
-- included). TRUNCATE is a separate trigger event and stays possible for an
-- operator's retention job (and for the test suite's clean slate).
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- migrate:down
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
