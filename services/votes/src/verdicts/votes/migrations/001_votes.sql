-- votes' own tables: the tools it has heard of, one ballot per voter per tool, running tallies,
-- discarded ballots with their reason, head-to-head votes and the periodic rankings.
CREATE TABLE {schema}.tools (
    slug text PRIMARY KEY,
    name text NOT NULL,
    category text NOT NULL
);

CREATE TABLE {schema}.ballots (
    tool text NOT NULL,
    voter text NOT NULL,
    choice text NOT NULL CHECK (choice IN ('ship', 'skip')),
    seq bigint NOT NULL,  -- JetStream stream sequence: the latest ballot wins, a redelivery is a no-op
    cast_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tool, voter)
);

CREATE TABLE {schema}.tallies (
    tool text PRIMARY KEY,
    ship bigint NOT NULL DEFAULT 0 CHECK (ship >= 0),
    skip bigint NOT NULL DEFAULT 0 CHECK (skip >= 0),
    changed_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);

CREATE TABLE {schema}.discarded (
    id bigserial PRIMARY KEY,
    tool text,
    voter text,
    reason text NOT NULL,
    detail text,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX discarded_tool ON {schema}.discarded (tool, reason);

CREATE TABLE {schema}.integrity (
    tool text NOT NULL,
    reason text NOT NULL,
    count bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tool, reason)
);

CREATE TABLE {schema}.head_to_head (
    a text NOT NULL,
    b text NOT NULL,
    voter text NOT NULL,
    winner text NOT NULL CHECK (winner IN ('a', 'b', 'tie')),
    cast_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (a, b, voter),
    CHECK (a < b)
);

CREATE TABLE {schema}.rankings (
    category text PRIMARY KEY,
    computed_at timestamptz NOT NULL,
    comparisons bigint NOT NULL,
    items jsonb NOT NULL
);
