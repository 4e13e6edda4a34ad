-- Asymmetric JWT signing keys, shared by every process, and the deny-list of revoked JWTs.
-- A key is published from published_at, signs from signs_from (later, so that verifiers
-- fetch it before they meet it) and is accepted until retire_at (set when a newer key takes
-- over: the moment the last JWT it signed has expired). A rotation notifies 'mrsm_auth'
-- with 'keys:<kid>'.

-- migrate:up
CREATE TABLE signing_keys (
    kid          text PRIMARY KEY,  -- the RFC 7638 thumbprint of the public key
    alg          text NOT NULL CHECK (alg IN ('EdDSA', 'ES256')),
    public_jwk   jsonb NOT NULL,
    private_key  bytea NOT NULL,   -- PKCS#8 DER, or AES-GCM of it under KEY_ENCRYPTION_KEY
    encrypted    boolean NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    signs_from   timestamptz NOT NULL,
    retire_at    timestamptz,
    CHECK (signs_from >= published_at),
    CHECK (retire_at IS NULL OR retire_at >= signs_from)
);

CREATE TABLE revoked_jwts (
    jti        text PRIMARY KEY,
    expires_at timestamptz NOT NULL  -- the JWT's exp: after it the row is useless, and deleted
);
CREATE INDEX revoked_jwts_expires_at ON revoked_jwts (expires_at);

-- migrate:down
DROP TABLE revoked_jwts;
DROP TABLE signing_keys;
