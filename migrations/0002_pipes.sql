-- Pipes (time-series streams keyed like Meerschaum's) and their rows.

-- migrate:up
CREATE TABLE pipes (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Keys: 1 to 100 of A-Z a-z 0-9 _ . : -, never '-', '.' or '..' alone ('-' stands for
    -- "no location" in paths; '.' and '..' would be normalised away by URL handling).
    connector_keys text NOT NULL
        CHECK (connector_keys ~ '^[A-Za-z0-9_.:-]{1,100}$'
               AND connector_keys NOT IN ('-', '.', '..')),
    metric_key     text NOT NULL
        CHECK (metric_key ~ '^[A-Za-z0-9_.:-]{1,100}$' AND metric_key NOT IN ('-', '.', '..')),
    -- NULL: the pipe has no location.
    location_key   text
        CHECK (location_key ~ '^[A-Za-z0-9_.:-]{1,100}$'
               AND location_key NOT IN ('-', '.', '..')),
    parameters     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(parameters) = 'object'),
    created_at     timestamptz NOT NULL DEFAULT now()
);
-- One pipe per key triple; a missing location is one value here (keys are never empty, so ''
-- cannot collide with a real location). Lookups use the same expression to hit this index.
CREATE UNIQUE INDEX pipes_keys_key
    ON pipes (connector_keys, metric_key, coalesce(location_key, ''));

CREATE TABLE pipe_rows (
    pipe_id  bigint NOT NULL REFERENCES pipes (id) ON DELETE CASCADE,
    ts       timestamptz NOT NULL,
    "values" jsonb NOT NULL,
    -- One row per instant: writing an existing timestamp replaces it (idempotent retries).
    PRIMARY KEY (pipe_id, ts)
);

-- migrate:down
DROP TABLE pipe_rows;
DROP TABLE pipes;
