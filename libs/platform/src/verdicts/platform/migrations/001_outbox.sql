-- Events written in the same transaction as the change they announce; a relay
-- publishes them with Nats-Msg-Id = event_id and marks them published.
CREATE TABLE {schema}.outbox (
    seq          bigserial PRIMARY KEY,
    event_id     text NOT NULL UNIQUE,
    subject      text NOT NULL,
    payload      bytea NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text,
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON {schema}.outbox (seq) WHERE published_at IS NULL;
