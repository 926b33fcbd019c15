-- Idempotent consumers: an event id is claimed in the same transaction as its effect.
CREATE TABLE {schema}.processed_events (
    consumer     text NOT NULL,
    event_id     text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
