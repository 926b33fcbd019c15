-- A row whose publishing keeps failing (not a full or unreachable bus: that is waited out) is
-- parked with its reason after VERDICTS_OUTBOX_MAX_ATTEMPTS failures, shown by `verdicts status`
-- and released by `verdicts outbox retry`, instead of being retried forever unseen.
ALTER TABLE {schema}.outbox
    ADD COLUMN failures integer NOT NULL DEFAULT 0,
    ADD COLUMN parked_at timestamptz;
DROP INDEX {schema}.outbox_unpublished;
CREATE INDEX outbox_unpublished ON {schema}.outbox (seq) WHERE published_at IS NULL AND parked_at IS NULL;
CREATE INDEX outbox_parked ON {schema}.outbox (seq) WHERE parked_at IS NOT NULL;
