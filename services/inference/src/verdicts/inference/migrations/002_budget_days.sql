-- Daily budgets: money held by calls in flight and money spent, per route and UTC day.
-- A call reserves its maximum cost with one conditional upsert and settles its actual cost.
CREATE TABLE {schema}.budget_days (
    route         text NOT NULL,
    day           date NOT NULL,
    reserved_usd  numeric(14, 8) NOT NULL DEFAULT 0,
    spent_usd     numeric(14, 8) NOT NULL DEFAULT 0,
    PRIMARY KEY (route, day)
);
INSERT INTO {schema}.budget_days (route, day, spent_usd)
SELECT route, (at AT TIME ZONE 'UTC')::date, sum(cost_usd) FROM {schema}.usage GROUP BY 1, 2;

-- Prompt-cache tokens are priced at their own rates.
ALTER TABLE {schema}.usage
    ADD COLUMN cache_read_tokens integer NOT NULL DEFAULT 0,
    ADD COLUMN cache_write_tokens integer NOT NULL DEFAULT 0;
