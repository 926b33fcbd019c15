-- Proof-of-work challenges already exchanged for a voter token: each is spent once, on any replica.
-- A row is kept until its challenge has expired (then it cannot be replayed anyway) and is pruned.
CREATE TABLE {schema}.altcha_spent (
    challenge text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX altcha_spent_expiry ON {schema}.altcha_spent (expires_at);
