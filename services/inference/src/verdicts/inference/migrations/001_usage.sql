-- Every upstream call that used tokens: who asked, which model, what it cost.
CREATE TABLE {schema}.usage (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    route       text NOT NULL,
    backend     text NOT NULL,
    model       text NOT NULL,
    caller      text NOT NULL,
    tokens_in   integer NOT NULL,
    tokens_out  integer NOT NULL,
    cost_usd    numeric(14, 8) NOT NULL,
    latency_ms  double precision NOT NULL,
    outcome     text NOT NULL
);
CREATE INDEX usage_route_day ON {schema}.usage (route, at);
