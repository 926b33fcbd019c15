-- The trace of the ballot batch that last moved a tally (W3C traceparent): the tally event it leads to
-- joins that trace, which links every ballot in the batch.
ALTER TABLE {schema}.tallies ADD COLUMN traceparent text;
