-- Tokens bound to pipes: NULL reaches every pipe; otherwise 1 to 64 patterns
-- "<connector_keys>/<metric_key>/<location_key>" (each part a key or '*', location '-'
-- for none), checked by the service before they are stored.
-- A change of them narrows or widens what a credential may reach, so it notifies
-- 'mrsm_auth' like any other such change (0005's function). It is a trigger of its own,
-- on this column alone, rather than a new column list for tokens_notify_auth: another
-- migration may redefine that trigger's list without knowing of this column.

-- migrate:up
ALTER TABLE tokens
    ADD COLUMN pipes text[] CHECK (cardinality(pipes) BETWEEN 1 AND 64);

CREATE TRIGGER tokens_notify_auth_pipes
AFTER UPDATE OF pipes ON tokens
FOR EACH ROW EXECUTE FUNCTION mrsm_notify_token_change();

-- migrate:down
DROP TRIGGER tokens_notify_auth_pipes ON tokens;
ALTER TABLE tokens DROP COLUMN pipes;
