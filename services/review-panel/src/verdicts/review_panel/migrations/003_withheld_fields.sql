-- Which fields of the tool record had instruction-like text withheld from the reviewer.
ALTER TABLE {schema}.reviews ADD COLUMN withheld_fields text[] NOT NULL DEFAULT '{}';
