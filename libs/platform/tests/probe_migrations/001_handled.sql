CREATE TABLE {schema}.handled (
    event_id text PRIMARY KEY,
    label    text NOT NULL,
    trace_id text NOT NULL
);
