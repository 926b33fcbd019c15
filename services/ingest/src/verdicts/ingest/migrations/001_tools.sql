-- The managed category list, matched case-insensitively.
CREATE TABLE {schema}.categories (
    name text PRIMARY KEY,
    key  text NOT NULL UNIQUE
);
INSERT INTO {schema}.categories (name, key)
SELECT name, lower(name) FROM unnest(ARRAY[
    'Developer Tools', 'Code Editors', 'Local Inference', 'Chat Assistants', 'Coding Agents',
    'Agents & Automation', 'Image Generation', 'Video Generation', 'Audio & Speech',
    'Search & Research', 'Writing', 'Productivity', 'Data & Analytics', 'Design',
    'Infrastructure', 'Observability', 'Security', 'Education', 'Customer Support',
    'Marketing', 'Sales', 'Finance', 'Legal', 'Healthcare'
]) AS name;

-- One row per tool: its current version; every version is kept in tool_versions.
CREATE TABLE {schema}.tools (
    slug            text PRIMARY KEY,
    vendor_key      text NOT NULL,
    category_key    text NOT NULL,
    current_version integer NOT NULL,
    content_hash    text NOT NULL,
    record          jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tools_category ON {schema}.tools (category_key, slug);
CREATE INDEX tools_vendor ON {schema}.tools (vendor_key, slug);

CREATE TABLE {schema}.tool_versions (
    slug         text NOT NULL REFERENCES {schema}.tools (slug),
    version      integer NOT NULL,
    content_hash text NOT NULL,
    record       jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (slug, version)
);
