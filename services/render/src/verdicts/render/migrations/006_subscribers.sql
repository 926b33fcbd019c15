-- The weekly issue by email (double opt-in). An address is kept only while it is subscribed or
-- waiting for its confirmation: unsubscribing deletes it, and its send log with it. ``nonce`` is in
-- every signed link, so a link dies with the subscription it was made for.
CREATE TABLE {schema}.subscribers (
    id bigserial PRIMARY KEY,
    email text NOT NULL,
    nonce text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    confirmed_at timestamptz,
    confirm_sent_at timestamptz,
    bounced_at timestamptz,
    bounce text
);
CREATE UNIQUE INDEX subscribers_email ON {schema}.subscribers (lower(email));

-- Each weekly issue mailed, and its send log: one row per subscriber, 'sending' written before the
-- SMTP transaction and 'sent' after it. A sender killed in between leaves 'sending', which is never
-- sent again (at most once; the resume counts it as in doubt).
CREATE TABLE {schema}.issues_mailed (
    week text PRIMARY KEY,
    opened_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE TABLE {schema}.issue_sends (
    week text NOT NULL REFERENCES {schema}.issues_mailed (week) ON DELETE CASCADE,
    subscriber_id bigint NOT NULL REFERENCES {schema}.subscribers (id) ON DELETE CASCADE,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    error text,
    PRIMARY KEY (week, subscriber_id)
);
CREATE INDEX issue_sends_due ON {schema}.issue_sends (week, next_attempt_at) WHERE state = 'pending';
