-- The version of each tool record votes holds: an older version arriving late changes nothing.
ALTER TABLE {schema}.tools ADD COLUMN version integer NOT NULL DEFAULT 0;
