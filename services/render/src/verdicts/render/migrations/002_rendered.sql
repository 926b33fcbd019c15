-- When each page was last rendered: a queued page waits until an interval has passed since then,
-- so a quiet page updates at once and a page in a vote storm at most once per interval.
CREATE TABLE {schema}.rendered (
    page text PRIMARY KEY,
    at timestamptz NOT NULL
);
