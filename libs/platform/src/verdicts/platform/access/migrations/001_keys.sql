-- Partner API keys: only a digest of the secret is kept; the key id is its visible prefix.
CREATE TABLE {schema}.api_keys (
    key_id      text PRIMARY KEY,
    digest      bytea NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    scopes      text[] NOT NULL CHECK (cardinality(scopes) > 0),
    vendors     text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Per-key counters in fixed windows (requests per minute, tools / re-runs / tokens per day),
-- shared by every replica because they live here.
CREATE TABLE {schema}.key_usage (
    key_id       text NOT NULL REFERENCES {schema}.api_keys (key_id) ON DELETE CASCADE,
    kind         text NOT NULL,
    window_start timestamptz NOT NULL,
    amount       bigint NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (key_id, kind, window_start)
);
