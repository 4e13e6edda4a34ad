-- Revocation across processes: every change that can narrow or end a credential
-- notifies the 'mrsm_auth' channel; each process drops the affected cache entries.
-- NOTIFY is transactional: listeners hear it when the change commits, not before.
-- last_used_at is not in the column lists, so the last-used flush notifies nobody.

-- migrate:up
CREATE FUNCTION mrsm_notify_token_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mrsm_auth', 'token:' || OLD.id::text);
    RETURN NULL;
END;
$$;

CREATE FUNCTION mrsm_notify_user_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mrsm_auth', 'user:' || OLD.id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER tokens_notify_auth
AFTER UPDATE OF label, scopes, expiration, invalidated_at, user_id, secret_hash OR DELETE
ON tokens FOR EACH ROW EXECUTE FUNCTION mrsm_notify_token_change();

CREATE TRIGGER users_notify_auth
AFTER UPDATE OF username, type, scopes, password_version OR DELETE
ON users FOR EACH ROW EXECUTE FUNCTION mrsm_notify_user_change();

-- migrate:down
DROP TRIGGER users_notify_auth ON users;
DROP TRIGGER tokens_notify_auth ON tokens;
DROP FUNCTION mrsm_notify_user_change();
DROP FUNCTION mrsm_notify_token_change();
