-- A comparison read at /compare/A-vs-B is rendered for its reader and no longer kept current: only
-- rivals and pairs requested through POST /v1/comparisons are (requested ones capped per category).
-- The pairs kept for a reader so far are let go; a requested pair records the key that asked.
DELETE FROM {schema}.pairs WHERE reason = 'on-demand';
ALTER TABLE {schema}.pairs ADD COLUMN requested_by text;
CREATE INDEX pairs_reason ON {schema}.pairs (reason);
