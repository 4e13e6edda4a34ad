-- Users, their tokens, and the service's own persisted settings (the JWT key).

-- migrate:up
CREATE TABLE users (
    id               uuid PRIMARY KEY,
    username         text NOT NULL CHECK (username ~ '^[A-Za-z0-9_.@-]{1,60}$'),
    password_hash    text NOT NULL,
    -- Bumped on every password change; JWTs from the password grant carry it,
    -- so a change ends them while tokens keep working.
    password_version integer NOT NULL DEFAULT 1,
    type             text NOT NULL CHECK (type IN ('admin', 'user')),
    scopes           text[] NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- Usernames are unique without regard to case.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE tokens (
    id             uuid PRIMARY KEY,
    -- NULL once the owner is deleted: the token stays listed for admins, invalidated.
    user_id        uuid REFERENCES users (id) ON DELETE SET NULL,
    label          text NOT NULL CHECK (char_length(label) BETWEEN 1 AND 100),
    secret_hash    bytea NOT NULL CHECK (octet_length(secret_hash) = 32),
    scopes         text[] NOT NULL DEFAULT '{}',
    expiration     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    invalidated_at timestamptz,
    last_used_at   timestamptz
);
CREATE UNIQUE INDEX tokens_user_label_key ON tokens (user_id, label);
CREATE INDEX tokens_created_at_idx ON tokens (created_at DESC, id);

CREATE TABLE service_settings (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- migrate:down
DROP TABLE service_settings;
DROP TABLE tokens;
DROP TABLE users;
