-- `real` turned a confidence of 0.15 into 0.15000000596; keep what the model answered.
ALTER TABLE {schema}.reviews ALTER COLUMN confidence TYPE double precision;
