-- review-panel's own copy of each tool version it reviews (fed by ingest events).
CREATE TABLE {schema}.tool_versions (
    slug     text NOT NULL,
    version  integer NOT NULL,
    record   jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (slug, version)
);

-- One panel run per tool version (re-runs add runs; old runs stay as history).
CREATE TABLE {schema}.panels (
    slug         text NOT NULL,
    version      integer NOT NULL,
    run          integer NOT NULL,
    personas     text[] NOT NULL,
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'complete', 'partial')),
    ship         integer,
    skip         integer,
    failed       integer,
    ship_pct     real,
    created_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    PRIMARY KEY (slug, version, run),
    FOREIGN KEY (slug, version) REFERENCES {schema}.tool_versions (slug, version)
);

CREATE TABLE {schema}.reviews (
    slug           text NOT NULL,
    version        integer NOT NULL,
    run            integer NOT NULL,
    persona        text NOT NULL,
    status         text NOT NULL CHECK (status IN ('completed', 'failed')),
    verdict        text CHECK (verdict IN ('ship', 'skip')),
    review         text,
    key_points     jsonb NOT NULL DEFAULT '[]'::jsonb,
    confidence     real,
    failure_reason text,
    route_note     text,
    provenance     jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (slug, version, run, persona),
    FOREIGN KEY (slug, version, run) REFERENCES {schema}.panels (slug, version, run)
);
