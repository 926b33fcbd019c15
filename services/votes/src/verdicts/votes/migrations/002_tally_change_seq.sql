-- Tally events go out as soon as a tally changes, at most once per interval per tool: a change
-- counter (not a timestamp, which a slower concurrent writer could stamp in the past) says what
-- is unpublished; published_at only spaces the events.
ALTER TABLE {schema}.tallies ADD COLUMN change_seq bigint NOT NULL DEFAULT 1;
ALTER TABLE {schema}.tallies ADD COLUMN published_seq bigint NOT NULL DEFAULT 0;
CREATE INDEX tallies_unpublished ON {schema}.tallies (tool) WHERE change_seq > published_seq;
