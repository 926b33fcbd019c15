-- render's read model, fed only by events: tools, reviews, panel verdicts, tallies; events that
-- arrive before their tool are held; pages to re-render are queued (coalesced) in `dirty`.
CREATE TABLE {schema}.tools (
    slug text PRIMARY KEY,
    version int NOT NULL,
    record jsonb NOT NULL,
    category text NOT NULL,
    announced_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tools_category ON {schema}.tools (category);

CREATE TABLE {schema}.reviews (
    slug text NOT NULL,
    version int NOT NULL,
    run int NOT NULL,
    persona text NOT NULL,
    body jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (slug, version, run, persona)
);

CREATE TABLE {schema}.panels (
    slug text NOT NULL,
    version int NOT NULL,
    run int NOT NULL,
    ship int NOT NULL,
    skip int NOT NULL,
    failed int NOT NULL,
    ship_pct double precision,
    partial boolean NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (slug, version, run)
);

CREATE TABLE {schema}.tallies (
    slug text PRIMARY KEY,
    ship bigint NOT NULL,
    skip bigint NOT NULL,
    ship_pct double precision,
    low double precision,
    high double precision,
    provisional boolean NOT NULL,
    occurred_at timestamptz NOT NULL
);

CREATE TABLE {schema}.held (
    id bigserial PRIMARY KEY,
    slug text NOT NULL,
    subject text NOT NULL,
    payload jsonb NOT NULL,
    held_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX held_slug ON {schema}.held (slug);

CREATE TABLE {schema}.pairs (
    a text NOT NULL,
    b text NOT NULL,
    reason text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (a, b),
    CHECK (a < b)
);

CREATE TABLE {schema}.dirty (
    page text PRIMARY KEY,
    since timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {schema}.pages (
    path text PRIMARY KEY,
    kind text NOT NULL,
    etag text NOT NULL,
    bytes int NOT NULL,
    published_at timestamptz NOT NULL
);
