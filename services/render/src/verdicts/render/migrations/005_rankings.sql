-- Each category's Bradley-Terry ranking from votes (votes.ranking.updated): the newest computed wins.
CREATE TABLE {schema}.rankings (
    category text PRIMARY KEY,
    computed_at timestamptz NOT NULL,
    comparisons bigint NOT NULL,
    provisional boolean NOT NULL,
    items jsonb NOT NULL
);
